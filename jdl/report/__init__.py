"""Publishing: the report's words and method notes (text), figures, provenance, nbconvert
export (publish, templates) and the monthly bulletin."""
