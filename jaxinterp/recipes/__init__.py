"""End-to-end recipes built from the primitives (each writes arrays, a summary and a report; the CLI's commands call these)."""
