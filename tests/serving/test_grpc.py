"""The V2 gRPC protocol of a real `shipyard serve --grpc-port`, driven by tritonclient.grpc as it is.

The same checks as the HTTP protocol tests (test_protocols.py), over gRPC: health, metadata, raw
FP32 and per-column tensors with BYTES, request ids, requested outputs, errors as status codes,
plus typed ``contents``, BYTES outputs and the shared metrics.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from shipyard.core import errors
from shipyard.interfaces.sdk import Client

from .conftest import Server, Starter

triton = pytest.importorskip("tritonclient.grpc")
grpc = pytest.importorskip("grpc")

PROTO_DIR = Path(__file__).resolve().parents[2] / "src/shipyard/serving/codecs/proto"


@pytest.fixture
def client(server: Server) -> Iterator[object]:
    assert server.grpc is not None
    c = triton.InferenceServerClient(server.grpc)
    yield c
    c.close()


def _code(info: pytest.ExceptionInfo[BaseException]) -> str:
    status = info.value.status()  # type: ignore[attr-defined]
    return str(status).removeprefix("StatusCode.")


def test_health_and_metadata(client: object) -> None:
    c: triton.InferenceServerClient = client  # type: ignore[assignment]
    assert c.is_server_live() and c.is_server_ready()
    assert c.is_model_ready("cancer") and c.is_model_ready("cancer", "1")
    meta = c.get_server_metadata(as_json=True)
    assert meta["name"] == "shipyard" and "binary_tensor_data" in meta["extensions"]
    model = c.get_model_metadata("mixed", as_json=True)
    assert model["name"] == "mixed" and model["versions"] == ["1"]
    assert model["inputs"] == [
        {"name": "age", "datatype": "INT64", "shape": ["-1"]},
        {"name": "income", "datatype": "FP64", "shape": ["-1"]},
        {"name": "plan", "datatype": "BYTES", "shape": ["-1"]},
        {"name": "region", "datatype": "BYTES", "shape": ["-1"]},
        {"name": "tenure", "datatype": "FP64", "shape": ["-1"]},
    ]
    assert [o["name"] for o in model["outputs"]] == ["prediction", "probabilities"]
    with pytest.raises(triton.InferenceServerException, match="no endpoint named 'ghost'") as info:
        c.get_model_metadata("ghost")
    assert _code(info) == "NOT_FOUND"
    with pytest.raises(triton.InferenceServerException, match="serves version 1, not 9"):
        c.is_model_ready("cancer", "9")


def test_raw_fp32_and_bytes_columns(
    client: object,
    cancer: tuple[pd.DataFrame, pd.Series],
    cancer_model: object,
    mixed_frame: tuple[pd.DataFrame, pd.Series],
    mixed_pipeline: object,
) -> None:
    c: triton.InferenceServerClient = client  # type: ignore[assignment]
    X, _ = cancer
    batch = X.head(16).to_numpy().astype(np.float32)
    inp = triton.InferInput("input-0", list(batch.shape), "FP32")
    inp.set_data_from_numpy(batch)
    outs = [triton.InferRequestedOutput("prediction"), triton.InferRequestedOutput("probabilities")]
    result = c.infer("cancer", [inp], outputs=outs, request_id="g-1")
    np.testing.assert_array_equal(
        result.as_numpy("prediction"),
        cancer_model.predict(X.head(16).astype(np.float32)),  # type: ignore[attr-defined]
    )
    np.testing.assert_allclose(
        result.as_numpy("probabilities"),
        cancer_model.predict_proba(X.head(16).astype(np.float32)),  # type: ignore[attr-defined]
        rtol=1e-5,  # the server widens FP32 to the signature's float64 columns
    )
    response = result.get_response(as_json=True)
    assert response["id"] == "g-1" and response["model_version"] == "1"
    only = c.infer("cancer", [inp], outputs=[triton.InferRequestedOutput("prediction")])
    assert [o["name"] for o in only.get_response(as_json=True)["outputs"]] == ["prediction"]
    assert only.as_numpy("probabilities") is None

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
        tensor = triton.InferInput(name, [len(rows)], dtype)
        tensor.set_data_from_numpy(values)
        inputs.append(tensor)
    result = c.infer("mixed", inputs)  # no outputs named: all of them
    np.testing.assert_array_equal(result.as_numpy("prediction"), mixed_pipeline.predict(rows))  # type: ignore[attr-defined]
    assert result.as_numpy("probabilities").shape == (5, 2)


def test_errors_map_to_status_codes(
    client: object, mixed_frame: tuple[pd.DataFrame, pd.Series]
) -> None:
    c: triton.InferenceServerClient = client  # type: ignore[assignment]
    x = triton.InferInput("x", [2], "FP64")
    x.set_data_from_numpy(np.array([0.5, 2.0]))
    assert c.infer("thresh", [x]).as_numpy("prediction").tolist() == [1, 1]

    with pytest.raises(triton.InferenceServerException, match="no endpoint named 'ghost'") as info:
        c.infer("ghost", [x])
    assert _code(info) == "NOT_FOUND"

    wrong = triton.InferInput("y", [2], "FP64")
    wrong.set_data_from_numpy(np.array([0.5, 2.0]))
    with pytest.raises(triton.InferenceServerException, match="unexpected input 'y'") as info:
        c.infer("thresh", [wrong])
    assert _code(info) == "INVALID_ARGUMENT"

    with pytest.raises(triton.InferenceServerException, match="unknown output 'nope'") as info:
        c.infer("thresh", [x], outputs=[triton.InferRequestedOutput("nope")])
    assert _code(info) == "INVALID_ARGUMENT"

    boom = triton.InferInput("x", [1], "FP64")
    boom.set_data_from_numpy(np.array([9.0]))  # FailingModel raises above 5
    with pytest.raises(triton.InferenceServerException, match="RuntimeError") as info:
        c.infer("failing", [boom])
    assert _code(info) == "INTERNAL"

    with pytest.raises(triton.InferenceServerException, match="version must be a positive"):
        c.infer("thresh", [x], model_version="one")


def test_typed_contents_and_metrics(server: Server) -> None:
    """Inputs in typed ``contents`` (what tritonclient never sends), through a plain channel."""
    from shipyard.serving.codecs import proto

    assert server.grpc is not None
    with grpc.insecure_channel(server.grpc) as channel:
        infer = channel.unary_unary(
            f"/{proto.SERVICE}/ModelInfer",
            request_serializer=proto.ModelInferRequest.SerializeToString,
            response_deserializer=proto.ModelInferResponse.FromString,
        )
        request = proto.ModelInferRequest(model_name="thresh", id="typed")
        request.inputs.add(name="x", datatype="FP64", shape=[3]).contents.fp64_contents.extend(
            [-1.0, 0.5, 2.0]
        )
        response, call = infer.with_call(request, metadata=[("x-request-id", "rid-typed")])
        assert response.id == "typed" and response.outputs[0].name == "prediction"
        prediction = np.frombuffer(response.raw_output_contents[0], dtype="<i8")
        assert prediction.tolist() == [0, 1, 1]
        trailing = dict(call.trailing_metadata())
        assert trailing["x-request-id"] == "rid-typed" and trailing["x-model-version"] == "1"

        short = proto.ModelInferRequest(model_name="thresh")
        short.inputs.add(name="x", datatype="FP64", shape=[3]).contents.fp64_contents.extend([1.0])
        with pytest.raises(grpc.RpcError) as info:
            infer(short)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        assert "shape [3] needs 3 values, got 1" in info.value.details()  # type: ignore[attr-defined]
    text = httpx.get(f"{server.url}/metrics").text
    assert (
        'shipyard_requests_total{code="OK",endpoint="thresh",protocol="grpc",version="1"}' in text
    )


@pytest.fixture(scope="module")
def labels_home(
    tmp_path_factory: pytest.TempPathFactory, cancer: tuple[pd.DataFrame, pd.Series]
) -> Path:
    from sklearn.linear_model import LogisticRegression

    home = tmp_path_factory.mktemp("labels-home")
    X, y = cancer
    labels = pd.Series(np.where(y == 1, "benign", "malignant"), name="diagnosis")
    model = LogisticRegression(max_iter=5000).fit(X, labels)
    with Client(home=home) as c:
        c.log_model(model, name="diagnosis", X_sample=X, y_sample=labels)
    return home


def test_bytes_outputs(
    start: Starter, labels_home: Path, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    srv = start("diagnosis@latest", home=labels_home, grpc=True)
    assert srv.grpc is not None
    c = triton.InferenceServerClient(srv.grpc)
    X, y = cancer
    batch = X.head(8).to_numpy()
    inp = triton.InferInput("input-0", list(batch.shape), "FP64")
    inp.set_data_from_numpy(batch)
    result = c.infer("diagnosis", [inp], outputs=[triton.InferRequestedOutput("prediction")])
    meta = result.get_output("prediction")
    assert meta.datatype == "BYTES"
    got = [v.decode() for v in result.as_numpy("prediction")]
    assert got == np.where(y.head(8) == 1, "benign", "malignant").tolist()
    c.close()


def test_every_error_class_has_a_grpc_code() -> None:
    from shipyard.interfaces.grpc.errors import STATUS

    def subclasses(cls: type) -> set[type]:
        found = set(cls.__subclasses__())
        for sub in list(found):
            found |= subclasses(sub)
        return found

    every = {errors.ShipyardError} | subclasses(errors.ShipyardError)
    assert every <= set(STATUS)
    assert {STATUS[errors.InvalidArgument], STATUS[errors.SchemaError]} == {"INVALID_ARGUMENT"}
    assert STATUS[errors.NotFound] == "NOT_FOUND" and STATUS[errors.Unavailable] == "UNAVAILABLE"
    assert STATUS[errors.Overloaded] == "RESOURCE_EXHAUSTED"
    assert set(STATUS.values()) <= set(grpc.StatusCode.__members__)


def test_descriptor_matches_the_proto(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    out = tmp_path / "inference.binpb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"--descriptor_set_out={out}",
            "inference.proto",
        ],
        check=True,
    )
    assert out.read_bytes() == (PROTO_DIR / "inference.binpb").read_bytes(), (
        "inference.binpb is stale: regenerate it (see shipyard/serving/codecs/proto/__init__.py)"
    )


def test_grpc_takes_the_same_tokens_as_http(tmp_path: Path, start: Starter) -> None:
    from shipyard.app import build
    from shipyard.core.config import Settings
    from shipyard.testing import ThresholdModel

    home = tmp_path / "auth-home"
    services = build(Settings(home=home), actor="tester")
    try:
        services.registry.log_model(
            ThresholdModel("x", 0.5), name="m", X_sample=pd.DataFrame({"x": [0.0, 1.0]})
        )
        predictor = services.tokens.create("app", ["predictor"], actor="root").secret
        viewer = services.tokens.create("dash", ["viewer"], actor="root").secret
    finally:
        services.close()
    srv = start("m@latest", "--no-controller", home=home, wait_for="live", grpc=True)
    assert srv.grpc is not None
    c = triton.InferenceServerClient(srv.grpc)
    assert c.is_server_live()  # health stays open, as over HTTP
    x = triton.InferInput("x", [2], "FP64")
    x.set_data_from_numpy(np.array([0.2, 0.9]))
    with pytest.raises(triton.InferenceServerException, match="needs a token") as info:
        c.infer("m", [x])
    assert _code(info) == "UNAUTHENTICATED"
    with pytest.raises(triton.InferenceServerException) as info:
        c.infer("m", [x], headers={"authorization": "Bearer not-a-token"})
    assert _code(info) == "UNAUTHENTICATED"
    with pytest.raises(triton.InferenceServerException) as info:
        c.infer("m", [x], headers={"authorization": f"Bearer {viewer}"})
    assert _code(info) == "PERMISSION_DENIED"
    answer = c.infer("m", [x], headers={"authorization": f"Bearer {predictor}"})
    assert answer.as_numpy("prediction").tolist() == [0, 1]
    c.close()
