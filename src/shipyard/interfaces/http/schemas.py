"""Typed bodies of the management API: validated on the way in, and published in /openapi.json.

``parse(model, raw)`` turns a request body into a pydantic model, or a ``SchemaError`` (400) naming
the first bad field (``to``, ``routes[0].weight``): a client's mistake is never a 500.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shipyard.core.errors import InvalidArgument, SchemaError
from shipyard.lifecycle.rollouts import Strategy

Body = TypeVar("Body", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RouteBody(_Strict):
    target: str = Field(min_length=1, description="A model reference: churn@champion or churn/4")
    weight: float = Field(ge=0, allow_inf_nan=False)


class ShadowBody(_Strict):
    target: str = Field(min_length=1)
    percent: float = Field(default=100.0, ge=0, le=100, allow_inf_nan=False)


class StickyBody(_Strict):
    kind: Literal["header", "field"]
    name: str = Field(min_length=1)


class SpecBody(_Strict):
    routes: list[RouteBody] = Field(min_length=1)
    shadows: list[ShadowBody] = Field(default_factory=list)
    sticky: StickyBody | None = None

    def spec(self) -> dict[str, Any]:
        return self.model_dump(include={"routes", "shadows", "sticky"})


class DeploymentCreate(SpecBody):
    name: str = Field(min_length=1)
    description: str = ""


class DeploymentUpdate(SpecBody):
    reason: str = ""
    expected_revision: int | None = Field(default=None, ge=0)


class RolloutStart(_Strict):
    to: int = Field(ge=1, description="The version to roll out")
    strategy: Strategy = "canary"
    steps: list[float] | None = Field(default=None, min_length=1)
    interval: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    gates: dict[str, float] = Field(default_factory=dict)
    failure_limit: int = Field(default=0, ge=0)


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object (empty: ``{}``); 400 otherwise."""
    try:
        doc = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise SchemaError("the body must be a JSON object", field="body")
    return doc


def parse(model: type[Body], raw: bytes) -> Body:
    """The body as ``model``; 400 naming the field on any mistake."""
    doc = json_object(raw)
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _where(tuple(first["loc"]))
        got = first.get("input")
        shown = "" if isinstance(got, dict) else f", got {orjson.dumps(got).decode()[:60]}"
        raise SchemaError(f"{where}: {first['msg']}{shown}", field=where) from exc


__all__ = [
    "DeploymentCreate",
    "DeploymentUpdate",
    "RolloutStart",
    "json_object",
    "parse",
]
