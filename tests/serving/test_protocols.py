"""A real `shipyard serve` driven with httpx and tritonclient: V2, MLflow, native JSON."""

from __future__ import annotations

import gzip
import json
import zlib

import httpx
import numpy as np
import pandas as pd
import pytest

from shipyard.interfaces.sdk import Client

from .conftest import Server


def v2_inputs(frame: pd.DataFrame) -> list[dict[str, object]]:
    out = []
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_string_dtype(col.dtype):
            out.append(
                {"name": name, "datatype": "BYTES", "shape": [len(col)], "data": col.tolist()}
            )
        elif col.dtype.kind == "i":
            out.append(
                {"name": name, "datatype": "INT64", "shape": [len(col)], "data": col.tolist()}
            )
        else:
            out.append(
                {
                    "name": name,
                    "datatype": "FP64",
                    "shape": [len(col)],
                    "data": [None if np.isnan(v) else v for v in col],
                }
            )
    return out


def test_server_metadata_and_health(http: httpx.Client) -> None:
    meta = http.get("/v2").json()
    assert meta["name"] == "shipyard" and "binary_tensor_data" in meta["extensions"]
    assert http.get("/v2/health/live").json() == {"live": True}
    assert http.get("/v2/health/ready").json() == {"ready": True}
    assert http.get("/v2/models/cancer/ready").json() == {"name": "cancer", "ready": True}
    assert http.get("/v2/models/cancer/versions/1/ready").status_code == 200
    assert http.get("/ping").status_code == 200 and http.get("/health").status_code == 200
    assert http.get("/version").text


def test_model_metadata_lists_one_input_per_column(http: httpx.Client) -> None:
    meta = http.get("/v2/models/mixed").json()
    assert meta["name"] == "mixed" and meta["versions"] == ["1"]
    assert meta["inputs"] == [
        {"name": "age", "datatype": "INT64", "shape": [-1]},
        {"name": "income", "datatype": "FP64", "shape": [-1]},
        {"name": "plan", "datatype": "BYTES", "shape": [-1]},
        {"name": "region", "datatype": "BYTES", "shape": [-1]},
        {"name": "tenure", "datatype": "FP64", "shape": [-1]},
    ]
    assert [o["name"] for o in meta["outputs"]] == ["prediction", "probabilities"]


def test_v2_json_per_column(
    http: httpx.Client, mixed_frame: tuple[pd.DataFrame, pd.Series], mixed_pipeline: object
) -> None:
    X, _ = mixed_frame
    rows = X.head(7)
    resp = http.post("/v2/models/mixed/infer", json={"id": "req-1", "inputs": v2_inputs(rows)})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["id"] == "req-1" and body["model_name"] == "mixed" and body["model_version"] == "1"
    out = {o["name"]: o for o in body["outputs"]}
    assert out["prediction"]["data"] == mixed_pipeline.predict(rows).tolist()  # type: ignore[attr-defined]
    np.testing.assert_allclose(
        np.array(out["probabilities"]["data"]).reshape(out["probabilities"]["shape"]),
        mixed_pipeline.predict_proba(rows),
    )  # type: ignore[attr-defined]
    assert resp.headers["x-model-version"] == "1" and resp.headers["x-request-id"]


def test_v2_single_2d_input_for_numeric_models(
    http: httpx.Client, cancer: tuple[pd.DataFrame, pd.Series], cancer_model: object
) -> None:
    X, _ = cancer
    rows = X.head(4).to_numpy()
    resp = http.post(
        "/v2/models/cancer/infer",
        json={
            "inputs": [
                {
                    "name": "input-0",
                    "datatype": "FP64",
                    "shape": list(rows.shape),
                    "data": rows.ravel().tolist(),
                }
            ],
            "outputs": [{"name": "prediction"}],
        },
    )
    assert resp.status_code == 200, resp.text
    outputs = resp.json()["outputs"]
    assert [o["name"] for o in outputs] == ["prediction"]
    assert outputs[0]["data"] == cancer_model.predict(X.head(4)).tolist()  # type: ignore[attr-defined]


def test_tritonclient_binary_and_json(
    server: Server,
    cancer: tuple[pd.DataFrame, pd.Series],
    cancer_model: object,
    mixed_frame: tuple[pd.DataFrame, pd.Series],
    mixed_pipeline: object,
) -> None:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("cancer")
    meta = client.get_model_metadata("cancer")
    assert len(meta["inputs"]) == 30
    X, _ = cancer
    batch = X.head(16).to_numpy().astype(np.float32)
    for binary in (True, False):
        inp = triton.InferInput("input-0", list(batch.shape), "FP32")
        inp.set_data_from_numpy(batch, binary_data=binary)
        outs = [
            triton.InferRequestedOutput("prediction", binary_data=binary),
            triton.InferRequestedOutput("probabilities", binary_data=binary),
        ]
        result = client.infer("cancer", [inp], outputs=outs, request_id="t-1")
        np.testing.assert_array_equal(
            result.as_numpy("prediction"), cancer_model.predict(X.head(16).astype(np.float32))
        )  # type: ignore[attr-defined]
        assert result.as_numpy("probabilities").shape == (16, 2)
        assert result.get_response()["id"] == "t-1"
    M, _ = mixed_frame
    rows = M.head(5)
    inputs = []
    for name, dtype in (
        ("age", "INT64"),
        ("income", "FP64"),
        ("plan", "BYTES"),
        ("region", "BYTES"),
        ("tenure", "FP64"),
    ):
        values = rows[name].to_numpy()
        values = (
            values.astype(object)
            if dtype == "BYTES"
            else values.astype(np.int64 if dtype == "INT64" else np.float64)
        )
        inp = triton.InferInput(name, [len(rows)], dtype)
        inp.set_data_from_numpy(values)  # binary by default
        inputs.append(inp)
    result = client.infer("mixed", inputs)  # no outputs given: all of them, binary
    np.testing.assert_array_equal(result.as_numpy("prediction"), mixed_pipeline.predict(rows))  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="no endpoint named 'ghost'"):
        client.get_model_metadata("ghost")
    client.close()


def test_v2_gzip_deflate_and_missing_content_type(http: httpx.Client) -> None:
    payload = httpx.Request(
        "POST",
        "/",
        json={
            "inputs": [{"name": "x", "datatype": "FP64", "shape": [3], "data": [-1.0, 0.5, 2.0]}]
        },
    ).content
    for encoding, body in (("gzip", gzip.compress(payload)), ("deflate", zlib.compress(payload))):
        resp = http.post(
            "/v2/models/thresh/infer", content=body, headers={"content-encoding": encoding}
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["outputs"][0]["data"] == [0, 1, 1]
    resp = http.post("/v2/models/thresh/infer", content=payload, headers={"content-type": ""})
    assert resp.status_code == 200


def test_mlflow_formats(
    http: httpx.Client, cancer: tuple[pd.DataFrame, pd.Series], cancer_model: object
) -> None:
    X, _ = cancer
    rows = X.head(3)
    expected = cancer_model.predict(rows).tolist()  # type: ignore[attr-defined]
    bodies = [
        {"dataframe_split": {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}},
        {"dataframe_records": rows.to_dict("records")},
        {"instances": rows.to_dict("records")},
        {"inputs": {c: rows[c].tolist() for c in rows.columns}},
        {"instances": rows.to_numpy().tolist(), "params": {"ignored": 1}},
    ]
    for body in bodies:
        resp = http.post("/endpoints/cancer/invocations", json=body)
        assert resp.status_code == 200, (body.keys(), resp.text)
        assert resp.json() == {"predictions": expected}
    resp = http.post(
        "/endpoints/cancer/invocations",
        content=rows.to_csv(index=False),
        headers={"content-type": "text/csv"},
    )
    assert resp.json() == {"predictions": expected}
    resp = http.post("/invocations", json=bodies[0])
    assert resp.status_code == 400 and "several endpoints are served" in resp.json()["message"]


def test_native_route_and_sdk(
    server: Server,
    http: httpx.Client,
    mixed_frame: tuple[pd.DataFrame, pd.Series],
    mixed_pipeline: object,
) -> None:
    X, _ = mixed_frame
    rows = X.head(5)
    records = json.loads(rows.to_json(orient="records"))  # NaN -> null
    resp = http.post("/v1/models/mixed/predict", json={"records": records})
    body = resp.json()
    assert resp.status_code == 200, body
    assert body["predictions"] == mixed_pipeline.predict(rows).tolist()  # type: ignore[attr-defined]
    assert body["classes"] == [0, 1] and len(body["probabilities"]) == 5
    assert body["version"] == 1 and body["request_id"] == resp.headers["x-request-id"]
    resp = http.post(
        "/v1/models/mixed/predict?probabilities=false",
        json=records,
        headers={"x-request-id": "mine-42"},
    )
    assert "probabilities" not in resp.json() and resp.headers["x-request-id"] == "mine-42"
    with Client(server.url) as client:
        np.testing.assert_array_equal(client.predict("mixed", rows), mixed_pipeline.predict(rows))  # type: ignore[attr-defined]
        np.testing.assert_allclose(
            client.predict_proba("mixed", rows), mixed_pipeline.predict_proba(rows)
        )  # type: ignore[attr-defined]
        from shipyard.core.errors import NotFound, SchemaError

        with pytest.raises(SchemaError, match="missing column 'plan'") as info:
            client.predict("mixed", rows.drop(columns=["plan"]))
        assert info.value.field == "plan"
        with pytest.raises(NotFound, match="no endpoint named 'nope'"):
            client.predict("nope", rows)


def test_metrics_openapi_docs_status(http: httpx.Client) -> None:
    http.post("/v1/models/thresh/predict", json=[{"x": 1.0}])
    text = http.get("/metrics").text
    assert (
        'shipyard_requests_total{code="200",endpoint="thresh",protocol="native",version="1"}'
        in text
    )
    for name in (
        "shipyard_queue_seconds_bucket",
        "shipyard_inference_seconds_bucket",
        "shipyard_request_seconds_bucket",
        "shipyard_batch_rows_bucket",
        "shipyard_in_flight_requests",
        "shipyard_model_load_seconds",
    ):
        assert name in text
    spec = http.get("/openapi.json").json()
    schema = spec["paths"]["/v1/models/mixed/predict"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    record = schema["oneOf"][0]["properties"]["records"]["items"]
    assert record["properties"]["plan"] == {"type": "string"}
    assert record["properties"]["tenure"] == {"type": ["number", "null"]}
    assert "tenure" not in record["required"] and "/v2/models/cancer/infer" in spec["paths"]
    assert "swagger-ui" in http.get("/docs").text
    assert http.get("/docs/static/swagger-ui-bundle.js").status_code == 200
    status = http.get("/api/status").json()
    assert status["ready"] and {e["name"] for e in status["endpoints"]} == {
        "cancer",
        "mixed",
        "thresh",
        "failing",
    }
