"""End-to-end recipes built from the toolkit's pieces (each writes arrays, a summary and a report)."""
