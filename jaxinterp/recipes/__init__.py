"""End-to-end recipes built from the primitives (the CLI's commands call these)."""
