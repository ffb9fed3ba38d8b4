"""Client mistakes on the management API are JSON 400s naming the field, never 500s."""

from __future__ import annotations

import pytest

from shipyard.core import errors
from shipyard.interfaces.http.errors import STATUS
from tests.interfaces.http.conftest import InProcess


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/rollouts/cancer", {"to": "abc"}, "to"),
        ("POST", "/api/rollouts/cancer", {"to": 2, "interval": "soon"}, "interval"),
        ("POST", "/api/rollouts/cancer", {"to": 2, "steps": ["a"]}, "steps[0]"),
        ("POST", "/api/rollouts/cancer", {"to": 2, "strategy": "yolo"}, "strategy"),
        ("POST", "/api/rollouts/cancer", [1, 2], "body"),
        ("POST", "/api/deployments", {"name": "d", "routes": "cancer@champion"}, "routes"),
        (
            "POST",
            "/api/deployments",
            {"name": "d", "routes": [{"target": "cancer/1", "weight": "x"}]},
            "routes[0].weight",
        ),
        ("PUT", "/api/deployments/d", {"routes": [], "expected_revision": "two"}, "routes"),
    ],
)
def test_wrong_types_are_400_naming_the_field(
    inprocess: InProcess, method: str, path: str, body: object, field: str
) -> None:
    response = inprocess.client.request(method, path, json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    doc = response.json()
    assert doc["field"] == field and doc["type"] == "SchemaError"
    assert doc["request_id"] == response.headers["x-request-id"]


def test_not_json_is_400_and_unknown_names_are_404(inprocess: InProcess) -> None:
    bad = inprocess.client.post(
        "/api/rollouts/cancer", content=b"{to:", headers={"content-type": "application/json"}
    )
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]
    missing = inprocess.client.get("/api/deployments/ghost")
    assert missing.status_code == 404 and missing.json()["type"] == "NotFound"


def test_every_error_class_has_a_status() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert cls in STATUS, name
