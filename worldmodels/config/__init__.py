"""Config checks: the schema (schema.py), resume rules (resume.py), composing with one-line errors
(compose.py)."""
