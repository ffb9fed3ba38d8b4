"""Models: the list, one model (versions, aliases on a timeline, the card), one version, and two
versions compared; plus the button that rolls an alias back."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from shipyard.app import Services
from shipyard.core.errors import InvalidArgument, NotFound
from shipyard.interfaces.console.render import Form
from shipyard.interfaces.http.auth import principal
from shipyard.interfaces.http.registry_api import require_protect_if_protected
from shipyard.interfaces.http.sessions import CONSOLE
from shipyard.registry.entities import AliasEvent, ModelVersion
from shipyard.registry.modelcard import model_card

PAGE_SIZE = 100
LINEAGE_TAGS = ("retrained.from", "retrained.trigger", "evaluation.verdict")


def _int(value: str | None, field: str, default: int | None = None) -> int:
    if value in (None, "") and default is not None:
        return default
    try:
        return int(str(value))
    except ValueError:
        raise InvalidArgument(f"{field} must be a whole number, got {value!r}") from None


def models(request: Request, s: Services) -> dict[str, Any]:
    prefix = request.query_params.get("prefix", "").strip()
    found = s.registry.store.list_models(prefix=prefix or None, limit=PAGE_SIZE + 1)
    return {"models": found[:PAGE_SIZE], "more": len(found) > PAGE_SIZE, "prefix": prefix}


def _timeline(events: list[AliasEvent]) -> list[dict[str, Any]]:
    """Each move with the time its target served (until the next move)."""
    out = []
    for i, e in enumerate(events):
        until = events[i + 1].at if i + 1 < len(events) else None
        out.append({"event": e, "until": until})
    return out


def model(request: Request, s: Services) -> dict[str, Any]:
    name = request.path_params["name"]
    found = s.registry.get_model(name)
    versions = s.registry.list_versions(name)
    aliases = []
    for alias in s.registry.list_aliases(name):
        history = s.registry.alias_history(name, alias.alias)
        aliases.append({"alias": alias, "timeline": _timeline(history)})
    protected = {p.alias: p.required_approvals for p in s.governance.list_protected(name)}
    shown = request.query_params.get("card")
    card_version = _int(shown, "card", found.aliases.get("champion") or found.latest_version or 0)
    card = (
        model_card(s.registry, name, card_version, governance=s.governance)
        if card_version
        else None
    )
    return {
        "model": found,
        "versions": versions,
        "aliases": aliases,
        "protected": protected,
        "card": card,
        "card_version": card_version,
        "lineage_tags": LINEAGE_TAGS,
    }


def _signature_columns(signature: dict[str, Any], side: str) -> dict[str, str]:
    """Column name -> type of a stored signature's inputs (``columns`` or ``tensor``) or outputs."""
    if side == "inputs":
        entries = signature.get("columns") or (
            [signature["tensor"]] if signature.get("tensor") else []
        )
    else:
        entries = signature.get("outputs") or []
    out = {}
    for c in entries if isinstance(entries, list) else []:
        if isinstance(c, dict) and "name" in c:
            shape = f" {c['shape']}" if "shape" in c else ""
            nullable = " (nullable)" if c.get("nullable") else ""
            out[str(c["name"])] = f"{c.get('dtype', '?')}{shape}{nullable}"
    return out


def version(request: Request, s: Services) -> dict[str, Any]:
    name = request.path_params["name"]
    mv = s.registry.get_version(name, _int(request.path_params["version"], "version"))
    manifest = s.registry.manifest(mv)
    return {
        "version": mv,
        "manifest": manifest,
        "inputs": _signature_columns(manifest.signature, "inputs"),
        "outputs": _signature_columns(manifest.signature, "outputs"),
        "approval": s.governance.status(name, mv.version),
        "evaluation": _evaluation(s, mv),
    }


def _evaluation(s: Services, mv: ModelVersion) -> dict[str, Any] | None:
    events = s.registry.audit(action="evaluation", target=mv.ref, limit=1)
    return dict(events[0].details) if events else None


def compare(request: Request, s: Services) -> dict[str, Any]:
    name = request.path_params["name"]
    q = request.query_params
    versions = s.registry.list_versions(name)
    if not versions:
        raise NotFound(f"model {name!r} has no versions")
    newest = versions[0].version
    a = s.registry.get_version(name, _int(q.get("a"), "a", max(1, newest - 1)))
    b = s.registry.get_version(name, _int(q.get("b"), "b", newest))
    ma, mb = s.registry.manifest(a), s.registry.manifest(b)
    metrics = sorted(set(a.metrics) | set(b.metrics))
    rows = []
    for m in metrics:
        va, vb = a.metrics.get(m), b.metrics.get(m)
        delta = vb - va if va is not None and vb is not None else None
        rows.append((m, va, vb, delta))
    sig = []
    for side in ("inputs", "outputs"):
        ca, cb = _signature_columns(ma.signature, side), _signature_columns(mb.signature, side)
        for col in sorted(set(ca) | set(cb)):
            left, right = ca.get(col), cb.get(col)
            change = (
                ("added" if left is None else "removed" if right is None else "changed")
                if left != right
                else ""
            )
            sig.append((side, col, left or "—", right or "—", change))
    return {
        "name": name,
        "versions": versions,
        "a": a,
        "b": b,
        "metrics": rows,
        "signature": sig,
        "evaluation": _evaluation(s, b),
    }


def rollback_alias(request: Request, s: Services, form: Form) -> tuple[str, str]:
    name, alias = request.path_params["name"], request.path_params["alias"]
    require_protect_if_protected(request, s, name, alias)  # as the API does
    moved = s.registry.rollback_alias(name, alias, actor=principal(request).name)
    return (
        f"{CONSOLE}/models/{name}",
        f"{name}@{alias} moved back from version {moved.from_version} to {moved.to_version}",
    )
