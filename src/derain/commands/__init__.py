"""User-facing commands that are not a pipeline stage: `remove` and `models`."""
