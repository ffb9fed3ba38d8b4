"""The OpenAPI document, with each endpoint's request schema generated from its signature."""

from __future__ import annotations

from typing import Any

from shipyard._version import __version__
from shipyard.package.signature import ColumnSpec, Signature
from shipyard.serving.dataplane import DataPlane

_JSON_TYPES = {"bool": "boolean", "string": "string", "datetime": "string"}

ERROR = {
    "description": "error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _column_schema(col: ColumnSpec) -> dict[str, Any]:
    kind = _JSON_TYPES.get(col.dtype) or ("integer" if "int" in col.dtype else "number")
    schema: dict[str, Any] = {"type": [kind, "null"] if col.nullable else kind}
    if col.dtype == "datetime":
        schema["format"] = "date-time"
    return schema


def _record_schema(sig: Signature) -> dict[str, Any]:
    if sig.kind == "tensor":
        assert sig.tensor is not None
        return {"type": "array", "description": f"tensor of shape {list(sig.tensor.shape)}"}
    return {
        "type": "object",
        "properties": {c.name: _column_schema(c) for c in sig.columns},
        "required": [c.name for c in sig.columns if not c.nullable],
        "additionalProperties": False,
    }


def _native_request(sig: Signature) -> dict[str, Any]:
    if sig.kind == "tensor":
        return {
            "type": "object",
            "properties": {"inputs": _record_schema(sig)},
            "required": ["inputs"],
        }
    record = _record_schema(sig)
    columns = {
        "type": "object",
        "properties": {c.name: {"type": "array", "items": _column_schema(c)} for c in sig.columns},
    }
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {"records": {"type": "array", "items": record}},
                "required": ["records"],
            },
            {"type": "object", "properties": {"columns": columns}, "required": ["columns"]},
            {"type": "array", "items": record},
        ]
    }


def _post(summary: str, schema: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": {
                "200": {
                    "description": "predictions",
                    "content": {"application/json": {"schema": response}},
                },
                "400": ERROR,
                "404": ERROR,
                "413": ERROR,
                "500": ERROR,
                "503": ERROR,
            },
        }
    }


def _get(summary: str) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": {"description": "OK"}}}}


def document(dataplane: DataPlane) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/v2": _get("Server metadata (Open Inference Protocol)"),
        "/v2/health/live": _get("Liveness"),
        "/v2/health/ready": _get(
            "Readiness: 200 once every endpoint is loaded and warmed, else 503"
        ),
        "/ping": _get("MLflow-compatible health check"),
        "/health": _get("MLflow-compatible health check"),
        "/version": _get("Server version"),
        "/metrics": _get("Prometheus metrics"),
        "/api/status": _get("Endpoints, served versions, load errors"),
    }
    single = len(dataplane.endpoints) == 1
    for name, ep in dataplane.endpoints.items():
        if ep.table is None:
            continue
        loaded = ep.table.primary
        sig = loaded.model.signature
        native_response = {
            "type": "object",
            "properties": {
                "model": {"type": "string"},
                "version": {"type": "integer"},
                "request_id": {"type": "string"},
                "predictions": {"type": "array"},
                "probabilities": {"type": "array"},
                "classes": {"type": "array"},
            },
        }
        paths[f"/v1/models/{name}/predict"] = _post(
            f"Predict with {name} (version {loaded.number})", _native_request(sig), native_response
        )
        v2_inputs = [
            {
                "type": "object",
                "properties": {
                    "name": {"const": c["name"]},
                    "datatype": {"const": c["datatype"]},
                    "shape": {"type": "array"},
                    "data": {"type": "array"},
                },
            }
            for c in _v2_inputs(sig)
        ]
        paths[f"/v2/models/{name}/infer"] = _post(
            f"Open Inference Protocol inference on {name}",
            {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "inputs": {"type": "array", "items": {"anyOf": v2_inputs}},
                },
                "required": ["inputs"],
            },
            {"type": "object"},
        )
        mlflow_schema = {
            "oneOf": [
                {"type": "object", "properties": {"dataframe_split": {"type": "object"}}},
                {
                    "type": "object",
                    "properties": {
                        "dataframe_records": {"type": "array", "items": _record_schema(sig)}
                    },
                },
                {"type": "object", "properties": {"instances": {"type": "array"}}},
                {"type": "object", "properties": {"inputs": {}}},
            ]
        }
        mlflow_response = {"type": "object", "properties": {"predictions": {"type": "array"}}}
        paths[f"/endpoints/{name}/invocations"] = _post(
            f"MLflow scoring formats on {name}", mlflow_schema, mlflow_response
        )
        if single:
            paths["/invocations"] = _post(
                f"MLflow scoring formats on {name}", mlflow_schema, mlflow_response
            )
        paths[f"/v2/models/{name}"] = _get(f"Metadata of {name}")
        paths[f"/v2/models/{name}/ready"] = _get(f"Readiness of {name}")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Shipyard model server", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string"},
                        "type": {"type": "string"},
                        "request_id": {"type": "string"},
                        "field": {"type": "string"},
                    },
                    "required": ["error"],
                }
            }
        },
    }


def _v2_inputs(sig: Signature) -> list[dict[str, Any]]:
    from shipyard.serving.codecs.v2 import metadata_inputs

    return metadata_inputs(sig)
