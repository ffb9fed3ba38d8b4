"""The request shapes of mlflow's scoring-server tests, against a real Shipyard server, compared with
mlflow 3.17.2's recorded answers (``tests/fixtures/mlflow_parity/record.py`` made the fixture).

Every shape mlflow answers 2xx is answered 2xx with equal predictions, except the silent coercions
Shipyard refuses on purpose (a 400 naming the column); no shape gets a 5xx.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.interfaces.sdk import Client
from tests.fixtures.mlflow_parity import cases
from tests.serving.conftest import Server, start_server

FIXTURE = Path(cases.__file__).with_name("mlflow-3.17.2.json")
RECORDED: dict[str, dict[str, dict[str, Any]]] = json.loads(FIXTURE.read_text())["answers"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def parity_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("parity-home")
    with Client(home=home) as client:
        for name, (model, sample) in cases.models().items():
            client.log_model(model, name=name, X_sample=sample)
    server = start_server(home, *(f"{name}@latest" for name in cases.MODELS))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def parity_http(parity_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=parity_server.url, timeout=30) as client:
        yield client


CASES = [(model, shape) for model in cases.MODELS for shape in cases.shapes(model)]


def test_the_fixture_covers_every_shape() -> None:
    for model, shape in CASES:
        assert shape.name in RECORDED[model], f"re-record: {model}/{shape.name} is not in it"


@pytest.mark.parametrize(("model", "shape"), CASES, ids=[f"{m}-{s.name}" for m, s in CASES])
def test_shape_is_answered_like_mlflow(
    parity_http: httpx.Client, model: str, shape: cases.Shape
) -> None:
    expected = RECORDED[model][shape.name]
    resp = parity_http.post(
        f"/endpoints/{model}/invocations",
        content=shape.body,
        headers={"content-type": shape.content_type},
    )
    assert resp.status_code < 500, resp.text
    body = resp.json()
    if shape.name in cases.COERCIONS:
        assert expected["status"] == 200  # what mlflow does, and why the row is in docs/serving.md
        assert resp.status_code == 400, resp.text
        assert body["error_code"] == "INVALID_PARAMETER_VALUE"
        return
    if 200 <= expected["status"] < 300:
        assert resp.status_code == 200, resp.text
        assert body["predictions"] == expected["predictions"]
    elif (model, shape.name) in SHIPYARD_ACCEPTS or shape.name in SHIPYARD_ACCEPTS:
        assert resp.status_code == 200, resp.text
        assert body["predictions"] == RECORDED[model]["split"]["predictions"]
    else:
        assert resp.status_code == expected["status"], resp.text
        if shape.name in MALFORMED:
            assert body["error_code"] == expected["error_code"] == "BAD_REQUEST"


SHIPYARD_ACCEPTS: set[object] = {
    "json_upper_case_type",
    ("tensor", "csv"),
    ("tensor", "csv_with_charset"),
    ("tensor", "instances_records"),
}
"""Shapes mlflow refuses that Shipyard answers: media types matched without regard to case, and a
tensor model fed a table keyed by position (CSV, records under ``instances``)."""

MALFORMED = {"not_json", "no_format_key", "list_body"}


def test_leniency_is_reported_in_a_header(parity_http: httpx.Client) -> None:
    resp = parity_http.post(
        "/endpoints/strlabels/invocations",
        json={"dataframe_records": [{"a": 1.0, "b": 0.0, "extra": 1}], "params": "fast"},
    )
    assert resp.status_code == 200
    warnings = resp.headers.get_list("x-shipyard-warning")
    assert any("'params' is not an object" in w for w in warnings)
    assert any("dropped columns the signature does not name: extra" in w for w in warnings)


def test_coercions_name_the_column(parity_http: httpx.Client) -> None:
    by_name = {s.name: s for s in cases.shapes("pipeline")}
    for shape_name, column in (
        ("numeric_string_in_float", "income"),
        ("bool_in_float", "income"),
        ("truncated_float_in_int", "age"),
        ("null_in_required_string", "plan"),
    ):
        shape = by_name[shape_name]
        resp = parity_http.post(
            "/endpoints/pipeline/invocations",
            content=shape.body,
            headers={"content-type": shape.content_type},
        )
        assert resp.status_code == 400 and f"'{column}'" in resp.json()["message"], shape_name
