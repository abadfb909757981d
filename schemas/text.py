"""Rules shared by every free-text field."""

NO_CONTROL_CHARACTERS = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"
"""Pattern of text fields: no C0 control characters except tab, line feed and carriage return."""
