"""Telemetry: the prediction and feedback log (schema, segment writer, DuckDB reader)."""
