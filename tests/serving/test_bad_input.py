"""Every client error is a 4xx that names the field; a model that raises is a 500 with its id."""

from __future__ import annotations

import httpx
import pytest

from tests.serving.conftest import Starter

GOOD = {"x": 1.0}


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "fragment"),
    [
        (
            "/v1/models/mixed/predict",
            {"json": [{"age": 30, "income": 1.0, "region": "north"}]},
            400,
            "missing column 'plan' (expected string)",
        ),
        (
            "/v1/models/mixed/predict",
            {"json": [{"age": "old", "income": 1.0, "plan": "pro", "region": "north"}]},
            400,
            "column 'age': expected int64, got string",
        ),
        (
            "/v1/models/thresh/predict",
            {"json": [{"x": 1.0, "y": 2}]},
            400,
            "unexpected column 'y'; expected columns: x",
        ),
        (
            "/v1/models/thresh/predict",
            {"content": b"{not json"},
            400,
            "request body is not valid JSON",
        ),
        ("/v1/models/thresh/predict", {"json": []}, 400, "input has no rows"),
        (
            "/v1/models/thresh/predict",
            {"json": {"records": [GOOD], "columns": {}}},
            400,
            "exactly one of 'records', 'columns', 'inputs'",
        ),
        ("/v1/models/thresh/predict", {"content": b"x" * (2 * 1024 * 1024)}, 413, "over the limit"),
        ("/v1/models/ghost/predict", {"json": [GOOD]}, 404, "no endpoint named 'ghost'"),
        (
            "/v2/models/thresh/infer",
            {
                "json": {
                    "inputs": [
                        {"name": "x", "datatype": "FP64", "shape": [2, 2], "data": [1, 2, 3, 4]}
                    ]
                }
            },
            400,
            "input 'x': expected shape [-1] (one value per row), got [2, 2]",
        ),
        (
            "/v2/models/thresh/infer",
            {"json": {"inputs": [{"name": "x", "datatype": "FP64", "shape": [3], "data": [1, 2]}]}},
            400,
            "input 'x': shape [3] needs 3 values, got 2",
        ),
        (
            "/v2/models/thresh/infer",
            {"json": {"inputs": [{"name": "x", "datatype": "FP99", "shape": [1], "data": [1]}]}},
            400,
            "unknown datatype 'FP99'",
        ),
        (
            "/v2/models/thresh/infer",
            {"json": {"inputs": []}},
            400,
            "'inputs' must be a non-empty list",
        ),
        (
            "/v2/models/thresh/infer",
            {"json": {"inputs": [{"name": "z", "datatype": "FP64", "shape": [1], "data": [1]}]}},
            400,
            "unexpected input 'z'; expected inputs: x",
        ),
        (
            "/v2/models/thresh/infer",
            {
                "json": {
                    "inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": [1]}],
                    "outputs": [{"name": "nope"}],
                }
            },
            400,
            "unknown output 'nope'",
        ),
        (
            "/v2/models/thresh/infer",
            {
                "content": b'{"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], '
                b'"parameters": {"binary_data_size": 8}}]}',
                "headers": {"inference-header-content-length": "abc"},
            },
            400,
            "Inference-Header-Content-Length must be an integer",
        ),
        (
            "/v2/models/thresh/versions/7/infer",
            {"json": {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": [1]}]}},
            404,
            "serves version 1, not 7",
        ),
        (
            "/v2/models/cancer/infer",
            {
                "json": {
                    "inputs": [
                        {"name": "in", "datatype": "FP64", "shape": [1, 3], "data": [1, 2, 3]}
                    ]
                }
            },
            400,
            "expected shape [-1, 30]",
        ),
        (
            "/v2/models/mixed/infer",
            {
                "json": {
                    "inputs": [
                        {"name": "in", "datatype": "FP64", "shape": [1, 5], "data": [1, 2, 3, 4, 5]}
                    ]
                }
            },
            400,
            "column 'plan' is not, so send one input per column",
        ),
        (
            "/endpoints/thresh/invocations",
            {"json": {"foo": []}},
            400,
            "exactly one of dataframe_split, dataframe_records, instances, inputs",
        ),
        (
            "/endpoints/thresh/invocations",
            {"content": b"x", "headers": {"content-type": "text/xml"}},
            415,
            "content type 'text/xml' is not supported",
        ),
        (
            "/v1/models/thresh/predict",
            {"content": b"garbage", "headers": {"content-encoding": "gzip"}},
            400,
            "not valid gzip data",
        ),
    ],
)
def test_client_errors(
    http: httpx.Client, path: str, kwargs: dict[str, object], status: int, fragment: str
) -> None:
    resp = http.post(path, **kwargs)  # type: ignore[arg-type]
    assert resp.status_code == status, resp.text
    body = resp.json()
    message = body.get("error") or body.get("message")
    assert fragment in message
    assert resp.headers["x-request-id"]


def test_field_is_named_in_native_errors(http: httpx.Client) -> None:
    body = http.post("/v1/models/thresh/predict", json=[{"x": "high"}]).json()
    assert body["field"] == "x" and body["type"] == "SchemaError"


def test_mlflow_errors_use_mlflow_shape(http: httpx.Client) -> None:
    body = http.post("/endpoints/thresh/invocations", content=b"{").json()
    assert body["error_code"] == "BAD_REQUEST" and "not valid JSON" in body["message"]


def test_model_that_raises_is_a_500_and_the_server_stays_up(http: httpx.Client) -> None:
    resp = http.post(
        "/v1/models/failing/predict", json=[{"x": 10.0}], headers={"x-request-id": "boom-1"}
    )
    assert resp.status_code == 500
    body = resp.json()
    assert body["type"] == "ModelFailure" and "RuntimeError" in body["error"]
    assert body["request_id"] == "boom-1" and resp.headers["x-request-id"] == "boom-1"
    ok = http.post("/v1/models/failing/predict", json=[{"x": 1.0}])
    assert ok.status_code == 200 and ok.json()["predictions"] == [1]
    metrics = http.get("/metrics").text
    assert (
        'shipyard_requests_total{code="500",endpoint="failing",protocol="native",version="1"}'
        in metrics
    )


def test_unknown_routes_and_methods(http: httpx.Client) -> None:
    assert http.get("/nope").json()["error"] == "no route GET /nope"
    assert http.get("/v2/models/thresh/infer").status_code == 405
    assert http.get("/v2/models/ghost").status_code == 404


def test_mlflow_leniency_and_strict_mlflow_flag(http: httpx.Client, start: Starter) -> None:
    extra = {"dataframe_records": [{"x": 1.0, "y": 2}]}
    lenient = http.post("/endpoints/thresh/invocations", json=extra)
    assert lenient.status_code == 200 and lenient.json() == {"predictions": [1]}
    assert lenient.headers["x-shipyard-warning"] == (
        "dropped columns the signature does not name: y"
    )
    strict = start("thresh@champion", "--strict-mlflow")
    refused = httpx.post(f"{strict.url}/invocations", json=extra, timeout=30)
    assert refused.status_code == 400
    assert refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "unexpected column 'y'" in refused.json()["message"]
