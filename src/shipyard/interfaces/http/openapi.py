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


ERROR_CODES = (400, 401, 403, 404, 408, 409, 413, 415, 500, 503)
ERRORS = {str(code): ERROR for code in ERROR_CODES}
MLFLOW_ERROR = {
    "description": "error (MLflow's shape)",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MlflowError"}}},
}


def _post(
    summary: str,
    schema: dict[str, Any],
    response: dict[str, Any],
    *,
    parameters: list[dict[str, Any]] | None = None,
    status: str = "200",
    error: dict[str, Any] = ERROR,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "responses": {
            status: {"description": "OK", "content": {"application/json": {"schema": response}}},
            **{str(code): error for code in ERROR_CODES},
        },
    }
    if parameters:
        op["parameters"] = parameters
    return {"post": op}


def _get(
    summary: str,
    response: dict[str, Any] | None = None,
    *,
    parameters: list[dict[str, Any]] | None = None,
    media: str = "application/json",
) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "OK"}
    if response is not None:
        ok["content"] = {media: {"schema": response}}
    op: dict[str, Any] = {"summary": summary, "responses": {"200": ok, **ERRORS}}
    if parameters:
        op["parameters"] = parameters
    return {"get": op}


def _path_param(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


VERSION_PARAM = _path_param("version", {"type": "integer", "minimum": 1})
NAME_PARAM = _path_param("name")
ANY_OBJECT: dict[str, Any] = {"type": "object"}
FEEDBACK_ITEM = {
    "type": "object",
    "properties": {
        "request_id": {"type": "string", "minLength": 1},
        "label": {"description": "a class seen in training, or a finite number (regressor)"},
        "overwrite": {"type": "boolean"},
    },
    "required": ["request_id", "label"],
}
FEEDBACK_REQUEST = {
    "oneOf": [
        FEEDBACK_ITEM,
        {"type": "array", "items": FEEDBACK_ITEM, "minItems": 1},
        {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": FEEDBACK_ITEM, "minItems": 1},
                "overwrite": {"type": "boolean"},
            },
            "required": ["items"],
        },
    ]
}
FEEDBACK_RESPONSE = {
    "type": "object",
    "properties": {
        "accepted": {"type": "integer"},
        "unknown_ids": {"type": "array", "items": {"type": "string"}},
        "mismatched": {"type": "array"},
        "invalid": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["accepted", "unknown_ids", "mismatched", "invalid"],
}


def _management(components: dict[str, Any]) -> dict[str, Any]:
    """The management API's paths, with request bodies from the same models that validate them."""
    from shipyard.interfaces.http.management import ROLLOUT_ACTIONS
    from shipyard.interfaces.http.schemas import DeploymentCreate, DeploymentUpdate, RolloutStart

    def ref(model: type[Any]) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    listing = {"type": "array", "items": ANY_OBJECT}
    paths: dict[str, Any] = {
        "/api/deployments": {
            **_get("Stored deployments", listing),
            **_post("Create a deployment", ref(DeploymentCreate), ANY_OBJECT, status="201"),
        },
        "/api/deployments/{name}": {
            **_get("A deployment", ANY_OBJECT, parameters=[NAME_PARAM]),
            "put": {
                "summary": "Change a deployment's routes",
                "parameters": [NAME_PARAM],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref(DeploymentUpdate)}},
                },
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": ANY_OBJECT}},
                    },
                    **ERRORS,
                },
            },
        },
        "/api/deployments/{name}/history": _get(
            "A deployment's changes", listing, parameters=[NAME_PARAM]
        ),
        "/api/rollouts/{name}": {
            **_get("A rollout's state and events", ANY_OBJECT, parameters=[NAME_PARAM]),
            **_post(
                "Start a rollout",
                ref(RolloutStart),
                ANY_OBJECT,
                parameters=[NAME_PARAM],
                status="201",
            ),
        },
    }
    for action in ROLLOUT_ACTIONS:
        op = _post(f"{action.capitalize()} the rollout", ANY_OBJECT, ANY_OBJECT)
        op["post"].pop("requestBody")
        op["post"]["parameters"] = [NAME_PARAM]
        paths[f"/api/rollouts/{{name}}/{action}"] = op
    paths.update(_registry_api())
    return paths


def _registry_api() -> dict[str, Any]:
    """The registry's management routes (models, aliases, approvals, audit, tokens): path
    parameters from the route, an optional JSON object body on writes."""
    import re

    from shipyard.interfaces.http.registry_api import routes

    ok = {"description": "OK", "content": {"application/json": {"schema": {}}}}
    paths: dict[str, Any] = {}
    for route in routes:
        names = re.findall(r"{(\w+)}", route.path)
        params = [VERSION_PARAM if n == "version" else _path_param(n) for n in names]
        for method in sorted((route.methods or set()) - {"HEAD"}):
            op: dict[str, Any] = {
                "summary": f"{method} {route.path}",
                "responses": {"200": ok, "201": ok, **ERRORS},
            }
            if params:
                op["parameters"] = params
            if method != "GET":
                op["requestBody"] = {
                    "required": False,
                    "content": {"application/json": {"schema": ANY_OBJECT}},
                }
            paths.setdefault(route.path, {})[method.lower()] = op
    return paths


def document(dataplane: DataPlane) -> dict[str, Any]:
    components: dict[str, Any] = {}
    text = {"type": "string"}
    paths: dict[str, Any] = {
        "/v1/feedback": _post(
            "Ground truth for logged predictions", FEEDBACK_REQUEST, FEEDBACK_RESPONSE
        ),
        "/openapi.json": _get("This document", ANY_OBJECT),
        "/docs": _get("Swagger UI", text, media="text/html"),
        **_management(components),
        "/v2": _get("Server metadata (Open Inference Protocol)"),
        "/v2/health/live": _get("Liveness"),
        "/v2/health/ready": _get(
            "Readiness: 200 once every endpoint is loaded and warmed, else 503"
        ),
        "/ping": _get("MLflow-compatible health check", text, media="text/plain"),
        "/health": _get("MLflow-compatible health check", text, media="text/plain"),
        "/version": _get("Server version", text, media="text/plain"),
        "/metrics": _get("Prometheus metrics", text, media="text/plain"),
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
        explain_request = {
            "anyOf": [
                _native_request(sig),
                {"type": "object", "properties": {"instances": {"type": "array"}}},
            ]
        }
        for path in (f"/v1/models/{name}/explain", f"/v1/models/{name}:explain"):
            paths[path] = _post(
                f"Explain {name}'s predictions: an attribution per input column, and the base value",
                explain_request,
                ANY_OBJECT,
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
        v2_request = {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "inputs": {"type": "array", "items": {"anyOf": v2_inputs}},
            },
            "required": ["inputs"],
        }
        v2_summary = f"Open Inference Protocol inference on {name}"
        paths[f"/v2/models/{name}/infer"] = _post(v2_summary, v2_request, ANY_OBJECT)
        paths[f"/v2/models/{name}/versions/{{version}}/infer"] = _post(
            v2_summary + " (one served version)",
            v2_request,
            ANY_OBJECT,
            parameters=[VERSION_PARAM],
        )
        mlflow_formats: dict[str, dict[str, Any]] = {
            "dataframe_split": ANY_OBJECT,
            "dataframe_records": {"type": "array", "items": _record_schema(sig)},
            "instances": {"type": "array"},
            "inputs": {},
        }
        mlflow_schema = {
            "oneOf": [  # exactly one format key (and optional params) per request
                {
                    "type": "object",
                    "properties": {key: schema, "params": ANY_OBJECT},
                    "required": [key],
                    "additionalProperties": False,
                }
                for key, schema in mlflow_formats.items()
            ]
        }
        mlflow_response = {"type": "object", "properties": {"predictions": {"type": "array"}}}
        paths[f"/endpoints/{name}/invocations"] = _post(
            f"MLflow scoring formats on {name}", mlflow_schema, mlflow_response, error=MLFLOW_ERROR
        )
        if single:
            paths["/invocations"] = _post(
                f"MLflow scoring formats on {name}",
                mlflow_schema,
                mlflow_response,
                error=MLFLOW_ERROR,
            )
        paths[f"/v2/models/{name}"] = _get(f"Metadata of {name}", ANY_OBJECT)
        paths[f"/v2/models/{name}/ready"] = _get(f"Readiness of {name}", ANY_OBJECT)
        paths[f"/v2/models/{name}/versions/{{version}}"] = _get(
            f"Metadata of {name} at one served version", ANY_OBJECT, parameters=[VERSION_PARAM]
        )
        paths[f"/v2/models/{name}/versions/{{version}}/ready"] = _get(
            f"Readiness of {name} at one served version", ANY_OBJECT, parameters=[VERSION_PARAM]
        )
    return {
        "openapi": "3.1.0",
        "info": {"title": "Shipyard model server", "version": __version__},
        "paths": paths,
        "security": [{"bearer": []}, {}],
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from `shipyard tokens create`",
                }
            },
            "schemas": {
                **components,
                "MlflowError": {
                    "type": "object",
                    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
                    "required": ["error_code", "message"],
                },
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string"},
                        "type": {"type": "string"},
                        "request_id": {"type": "string"},
                        "field": {"type": "string"},
                    },
                    "required": ["error"],
                },
            },
        },
    }


def _v2_inputs(sig: Signature) -> list[dict[str, Any]]:
    from shipyard.serving.codecs.v2 import metadata_inputs

    return metadata_inputs(sig)
