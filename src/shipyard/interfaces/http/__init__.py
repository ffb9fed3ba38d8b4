"""The HTTP interface: one Starlette app over the data plane (V2, MLflow, native JSON, metrics)."""
