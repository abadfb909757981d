"""The content service: versioned bilingual documents, facts, and their HTTP API."""
