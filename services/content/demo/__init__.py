"""Demo content: the New Delhi "Internal Security section" page, in French and English."""
