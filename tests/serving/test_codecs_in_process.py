"""Every route and protocol, in process (ASGI): outputs of any dtype round-trip, and the client
mistakes that used to reach the model (and count as its errors) are 400s that name the field."""

from __future__ import annotations

import io
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.app import build
from shipyard.core.config import Settings
from shipyard.interfaces.http.app import create_app
from shipyard.interfaces.http.config import EndpointConfig, ServeConfig
from shipyard.interfaces.sdk import Client
from shipyard.serving.codecs.tensors import from_binary
from tests.fixtures.mlflow_parity import cases
from tests.serving.asgi import InProcessServer

ROWS = pd.DataFrame({"a": [0.5, -1.0, 2.0], "b": [-0.2, 0.3, 1.0]})
WHEN = pd.to_datetime(["2024-01-02T03:04:05", "2025-06-07T00:00:00"])


class EchoModel:
    """Answers each row's ``out`` column as it is, whatever its dtype."""

    def predict(self, data: Any) -> Any:
        return data["out"].to_numpy()


def _serve(home: Path, names: list[str], **config: Any) -> Iterator[InProcessServer]:
    services = build(Settings(home=home, allow_code=True))
    app = create_app(
        services,
        ServeConfig(
            endpoints=[EndpointConfig(name=n, ref=f"{n}@latest") for n in names],
            controller=False,
            log_predictions=False,
            **config,
        ),
    )
    server = InProcessServer(app)
    try:
        deadline = time.monotonic() + 60
        while server.get("/v2/health/ready").status_code != 200:  # models load in the background
            assert time.monotonic() < deadline, server.get("/v2/health/ready").text
            time.sleep(0.05)
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("codecs-home")
    fitted = cases.models()
    with Client(home=home) as client:
        for name in ("strlabels", "intlabels", "boollabels", "pipeline"):
            model, sample = fitted[name]
            client.log_model(model, name=name, X_sample=sample)
        client.log_model(EchoModel(), name="when", X_sample=pd.DataFrame({"out": WHEN}))
        gaps = pd.DataFrame({"out": [1.5, np.nan, -2.0]})
        client.log_model(EchoModel(), name="gaps", X_sample=gaps)
    return home


NAMES = ["strlabels", "intlabels", "boollabels", "pipeline", "when", "gaps"]


@pytest.fixture(scope="module")
def http(home: Path) -> Iterator[InProcessServer]:
    yield from _serve(home, NAMES)


def _expected(name: str) -> list[Any]:
    model, _ = cases.models()[name]
    values: list[Any] = np.asarray(model.predict(ROWS)).tolist()  # type: ignore[attr-defined]
    return values


def _v2(name: str, binary_output: bool) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": c, "datatype": "FP64", "shape": [3], "data": ROWS[c].tolist()}
            for c in ROWS.columns
        ],
        "parameters": {"binary_data_output": binary_output},
    }


def _binary_outputs(body: bytes, header_length: int) -> dict[str, Any]:
    import orjson

    head = orjson.loads(body[:header_length])
    out: dict[str, Any] = {}
    offset = header_length
    for tensor in head["outputs"]:
        size = tensor["parameters"]["binary_data_size"]
        chunk = body[offset : offset + size]
        offset += size
        data = from_binary(tensor["name"], tensor["datatype"], tensor["shape"], chunk)
        out[tensor["name"]] = [v.decode() if isinstance(v, bytes) else v for v in data.tolist()]
        out[tensor["name"] + ".parameters"] = tensor["parameters"]
    return out


@pytest.mark.parametrize("name", ["strlabels", "intlabels", "boollabels"])
def test_labels_round_trip_on_every_route(http: InProcessServer, name: str) -> None:
    expected = _expected(name)
    model, _ = cases.models()[name]
    classes = np.asarray(model.classes_).tolist()  # type: ignore[attr-defined]

    native = http.post(f"/v1/models/{name}/predict", json={"records": ROWS.to_dict("records")})
    assert native.status_code == 200, native.text
    assert native.json()["predictions"] == expected
    assert native.json()["classes"] == classes
    assert len(native.json()["probabilities"]) == 3

    split = {"columns": list(ROWS.columns), "data": ROWS.values.tolist()}
    mlflow = http.post(f"/endpoints/{name}/invocations", json={"dataframe_split": split})
    assert mlflow.status_code == 200 and mlflow.json() == {"predictions": expected}

    v2 = http.post(f"/v2/models/{name}/infer", json=_v2(name, binary_output=False))
    assert v2.status_code == 200, v2.text
    outputs = {o["name"]: o for o in v2.json()["outputs"]}
    assert outputs["prediction"]["data"] == expected
    assert outputs["probabilities"]["parameters"]["classes"] == classes

    binary = http.post(f"/v2/models/{name}/infer", json=_v2(name, binary_output=True))
    assert binary.status_code == 200, binary.text
    decoded = _binary_outputs(
        binary.content, int(binary.headers["inference-header-content-length"])
    )
    got = decoded["prediction"]
    if isinstance(expected[0], bool):
        got = [bool(v) for v in got]
    assert got == expected
    assert decoded["probabilities.parameters"]["classes"] == classes


def test_datetimes_and_nan_outputs_are_json(http: InProcessServer) -> None:
    when = {"out": [w.isoformat() for w in WHEN]}
    native = http.post("/v1/models/when/predict", json={"columns": when})
    assert native.status_code == 200, native.text
    assert native.json()["predictions"] == [
        "2024-01-02T03:04:05",
        "2025-06-07T00:00:00",
    ]
    mlflow = http.post("/endpoints/when/invocations", json={"inputs": when})
    assert mlflow.json()["predictions"] == native.json()["predictions"]
    v2 = http.post(
        "/v2/models/when/infer",
        json={"inputs": [{"name": "out", "datatype": "BYTES", "shape": [2], "data": when["out"]}]},
    )
    assert v2.status_code == 200, v2.text
    assert v2.json()["outputs"][0]["data"] == native.json()["predictions"]

    gaps = http.post("/v1/models/gaps/predict", json={"columns": {"out": [1.5, None, -2.0]}})
    assert gaps.status_code == 200 and gaps.json()["predictions"] == [1.5, None, -2.0]
    mlflow_gaps = http.post("/endpoints/gaps/invocations", json={"inputs": {"out": [None]}})
    assert mlflow_gaps.json() == {"predictions": [None]}


def _binary_input(name: str, datatype: str, payload: bytes, count: int) -> tuple[bytes, str]:
    import orjson

    head = orjson.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "datatype": datatype,
                    "shape": [count],
                    "parameters": {"binary_data_size": len(payload)},
                }
            ]
        }
    )
    return head + payload, str(len(head))


def _bytes_elements(*items: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(i)) + i for i in items)


def _split(columns: list[str], data: list[list[Any]]) -> dict[str, Any]:
    return {"dataframe_split": {"columns": columns, "data": data}}


PIPE = {"zip": "02134", "plan": "pro", "age": 61, "income": 1.5}


def _post_binary_v2(http: InProcessServer, model: str, payload: bytes, length: str) -> Any:
    return http.post(
        f"/v2/models/{model}/infer",
        content=payload,
        headers={"inference-header-content-length": length},
    )


@pytest.mark.parametrize(
    ("case", "field", "fragment"),
    [
        ("object_in_string_column", "plan", "expected string, got an object at row 0"),
        ("list_in_string_column", "zip", "expected string, got a list at row 0"),
        ("inf_in_binary_v2", "a", "is not a finite number"),
        ("fp16_overflow_json", "a", "does not fit FP16"),
        ("fp16_inf_binary", "a", "is not a finite number"),
        ("csv_inf", "a", "expected a finite number"),
        ("invalid_utf8_bytes", "zip", "is not valid UTF-8"),
        ("duplicate_split_columns", "a", "'a' appears more than once"),
        ("int_overflow_json", "a", "not INT8 values"),
    ],
)
def test_client_mistakes_are_400s_naming_the_field(
    http: InProcessServer, case: str, field: str, fragment: str
) -> None:
    if case == "object_in_string_column":
        resp = http.post("/v1/models/pipeline/predict", json=[{**PIPE, "plan": {"a": 1}}])
    elif case == "list_in_string_column":
        resp = http.post(
            "/endpoints/pipeline/invocations",
            json={"dataframe_records": [{**PIPE, "zip": ["0", "2"]}]},
        )
    elif case == "inf_in_binary_v2":
        payload, length = _binary_input("a", "FP64", struct.pack("<d", float("inf")), 1)
        resp = _post_binary_v2(http, "strlabels", payload, length)
    elif case == "fp16_overflow_json":
        resp = http.post(
            "/v2/models/strlabels/infer",
            json={"inputs": [{"name": "a", "datatype": "FP16", "shape": [1], "data": [1e6]}]},
        )
    elif case == "fp16_inf_binary":
        payload, length = _binary_input("a", "FP16", np.array([-np.inf], "<f2").tobytes(), 1)
        resp = _post_binary_v2(http, "strlabels", payload, length)
    elif case == "csv_inf":
        resp = http.post(
            "/endpoints/strlabels/invocations",
            content=b"a,b\n1.0,2.0\ninf,0.5\n",
            headers={"content-type": "text/csv"},
        )
    elif case == "invalid_utf8_bytes":
        payload, length = _binary_input("zip", "BYTES", _bytes_elements(b"\xff\xfe"), 1)
        resp = _post_binary_v2(http, "pipeline", payload, length)
    elif case == "duplicate_split_columns":
        resp = http.post(
            "/endpoints/strlabels/invocations", json=_split(["a", "a", "b"], [[1.0, 2.0, 3.0]])
        )
    else:
        resp = http.post(
            "/v2/models/strlabels/infer",
            json={"inputs": [{"name": "a", "datatype": "INT8", "shape": [1], "data": [300]}]},
        )
    assert resp.status_code == 400, resp.text
    body = resp.json()
    message = body.get("error") or body.get("message")
    assert fragment in message and f"'{field}'" in message, message


def test_client_mistakes_are_not_model_errors(http: InProcessServer) -> None:
    http.post("/v1/models/pipeline/predict", json=[{**PIPE, "plan": [1]}])
    payload, length = _binary_input("a", "FP64", struct.pack("<d", float("-inf")), 1)
    _post_binary_v2(http, "strlabels", payload, length)
    metrics = http.get("/metrics").text
    assert 'code="400",endpoint="pipeline"' in metrics
    assert 'code="500"' not in metrics


def test_csv_is_read_with_the_signature_types(http: InProcessServer) -> None:
    ok = http.post(
        "/endpoints/pipeline/invocations",
        content=b"zip,plan,age,income\n02134,pro,61,48000.5\n00501,basic,25,1\n",
        headers={"content-type": "TEXT/CSV; charset=UTF-8"},
    )
    assert ok.status_code == 200, ok.text
    records = [
        {"zip": "02134", "plan": "pro", "age": 61, "income": 48000.5},
        {"zip": "00501", "plan": "basic", "age": 25, "income": 1.0},
    ]
    same = http.post("/endpoints/pipeline/invocations", json={"dataframe_records": records})
    assert ok.json() == same.json()
    bad = http.post(
        "/endpoints/pipeline/invocations",
        content=b"zip,plan,age,income\n02134,pro,61,1\n02134,pro,6.5,1\n",
        headers={"content-type": "text/csv"},
    )
    assert bad.status_code == 400
    assert bad.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "CSV line 3 (data row 1), column 'age': expected an integer (int64), got '6.5'",
    }


def test_parquet_body(http: InProcessServer) -> None:
    buffer = io.BytesIO()
    ROWS.to_parquet(buffer, index=False)
    resp = http.post(
        "/endpoints/strlabels/invocations",
        content=buffer.getvalue(),
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    assert resp.status_code == 200 and resp.json() == {"predictions": _expected("strlabels")}
    garbage = http.post(
        "/endpoints/strlabels/invocations",
        content=b"PAR1 not really",
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    assert garbage.status_code == 400
    assert garbage.json()["error_code"] == "BAD_REQUEST"


def test_native_and_v2_stay_strict(http: InProcessServer) -> None:
    extra = http.post("/v1/models/strlabels/predict", json=[{"a": 1.0, "b": 2.0, "c": 3}])
    assert extra.status_code == 400 and "unexpected column 'c'" in extra.json()["error"]
    v2 = http.post(
        "/v2/models/strlabels/infer",
        json={
            "inputs": [{"name": n, "datatype": "FP64", "shape": [1], "data": [1.0]} for n in "abc"]
        },
    )
    assert v2.status_code == 400 and "unexpected input 'c'" in v2.json()["error"]


def test_strict_mlflow_restores_refusals(home: Path) -> None:
    for client in _serve(home, ["strlabels"], strict_mlflow=True):
        extra = client.post(
            "/invocations", json={"dataframe_records": [{"a": 1.0, "b": 2.0, "c": 3}]}
        )
        assert extra.status_code == 400
        assert extra.json() == {
            "error_code": "INVALID_PARAMETER_VALUE",
            "message": "unexpected column 'c'; expected columns: a, b",
        }
        params = client.post(
            "/invocations", json={"dataframe_records": [{"a": 1.0, "b": 2.0}], "params": [1]}
        )
        assert params.status_code == 400
        assert params.json() == {
            "error_code": "BAD_REQUEST",
            "message": "'params' must be an object",
        }
        assert "x-shipyard-warning" not in extra.headers
