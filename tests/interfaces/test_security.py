"""The server's front door, in process: the route x role matrix, browser rules, and each attack of
issue 10 against ``serve cancer@champion`` with ``champion`` protected (2 approvals)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from shipyard.app import Services, build
from shipyard.core.config import Settings
from shipyard.core.errors import Conflict
from shipyard.interfaces.http.app import create_app
from shipyard.interfaces.http.config import EndpointConfig, ServeConfig
from shipyard.interfaces.http.permissions import OPERATIONS
from shipyard.registry.access import Permission, Role
from shipyard.testing import ThresholdModel

BASE = "http://127.0.0.1:8000"
FRAME = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
ROLES = [r.value for r in Role]


class Client:
    """httpx's in-process ASGITransport with the app's lifespan, behind a synchronous face."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.stack = contextlib.AsyncExitStack()

    def __enter__(self) -> Client:
        async def enter() -> httpx.AsyncClient:
            await self.stack.enter_async_context(self.app.router.lifespan_context(self.app))
            return await self.stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE)
            )

        self.http = self.loop.run_until_complete(enter())
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.run_until_complete(self.stack.aclose())
        self.loop.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.http.request(method, path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)


@dataclass
class Fixture:
    services: Services
    tokens: dict[str, str]
    home: Path

    def client(self, **config: object) -> Client:
        return Client(create_app(self.services, _config(**config)))


def _config(**overrides: object) -> ServeConfig:
    values: dict[str, object] = {
        "endpoints": [EndpointConfig(name="cancer", ref="cancer@champion")],
        "controller": False,
        "log_predictions": False,
        "poll_interval": 0.05,
    }
    values.update(overrides)
    return ServeConfig.model_validate(values)


def _registry(home: Path) -> Services:
    """cancer v1 (champion), v2 (pending), v3 (rejected, champion once); champion needs 2."""
    services = build(Settings(home=home), actor="alice")
    for t in (0.5, 1.5, 0.0):
        services.registry.log_model(ThresholdModel("x", t), name="cancer", X_sample=FRAME)
    services.registry.set_alias("cancer", "champion", 3, reason="trial")
    services.registry.set_alias("cancer", "champion", 1, reason="back")
    services.governance.protect("cancer", "champion", required_approvals=2)
    services.governance.reject("cancer", 3, actor="carol", comment="bad")
    return services


@pytest.fixture
def fx(tmp_path: Path) -> Iterator[Fixture]:
    services = _registry(tmp_path / "home")
    tokens = {
        role: services.tokens.create(f"{role}-1", [role], actor="root").secret for role in ROLES
    }
    tokens["alice"] = services.tokens.create("alice", ["approver"], actor="root").secret
    tokens["bob"] = services.tokens.create("bob", ["approver"], actor="root").secret
    yield Fixture(services, tokens, tmp_path / "home")
    services.close()


def _auth(token: str | None) -> dict[str, str]:
    return {} if token is None else {"authorization": f"Bearer {token}"}


def _json(token: str | None = None, **extra: str) -> dict[str, str]:
    return {"content-type": "application/json", **_auth(token), **extra}


def _wait_ready(client: Client) -> None:
    # the follower loads the model in a thread; readiness (an open route) turns green after
    for _ in range(6000):
        if client.get("/v2/health/ready").status_code == 200:
            return
        threading.Event().wait(0.01)
    raise AssertionError("the model never became ready within 60 s")


# -- the matrix ---------------------------------------------------------------------------------------

CONCRETE = {
    "{model}": "cancer",
    "{version}": "2",
    "{name}": "cancer",
    "{alias}": "staging",
}


def _concrete(path: str) -> str:
    for key, value in CONCRETE.items():
        path = path.replace(key, value)
    return path


def test_every_route_has_one_permission_rule(fx: Fixture) -> None:
    app = create_app(fx.services, _config())
    listed = set()
    for route in app.router.routes:
        if isinstance(route, Mount):
            listed.add(("GET", route.path))
            continue
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":
                listed.add((method, route.path))
    assert listed == set(OPERATIONS)  # nothing unlisted, nothing stale


def test_route_by_role_matrix(fx: Fixture) -> None:
    with fx.client() as client:
        _wait_ready(client)
        for (method, template), needed in OPERATIONS.items():
            if template == "/docs/static" or template.startswith("/ui"):
                continue  # console pages use sessions, not bearer headers: tests/interfaces/console
            path = _concrete(template)
            body = b"{}"
            if "infer" in path:
                body = b'{"inputs":[{"name":"x","datatype":"FP64","shape":[1],"data":[1.0]}]}'
            elif "invocations" in path or "predict" in path:
                body = b'{"dataframe_records":[{"x":1.0}]}'
                if "predict" in path:
                    body = b'{"columns":{"x":[1.0]}}'
            callers: list[str | None] = [None, *ROLES]
            for role in callers:
                token = None if role is None else fx.tokens[role]
                response = client.request(method, path, content=body, headers=_json(token))
                where = f"{method} {path} as {role}: {response.status_code} {response.text[:200]}"
                if not needed or (path == "/metrics"):  # open (metrics: loopback bind)
                    assert response.status_code not in (401, 403), where
                elif role is None:
                    assert response.status_code == 401, where
                    assert response.headers["www-authenticate"].startswith("Bearer"), where
                    assert response.json()["type"] == "Unauthenticated", where
                elif any(p in _granted(role) for p in needed):
                    assert response.status_code not in (401, 403, 415), where
                    assert response.status_code < 500, where
                else:
                    assert response.status_code == 403, where
                    assert response.json()["type"] == "Forbidden", where


def _granted(role: str) -> frozenset[Permission]:
    from shipyard.registry.access import ROLE_PERMISSIONS

    return ROLE_PERMISSIONS[Role(role)]


def test_a_bad_expired_or_revoked_token_is_401(fx: Fixture) -> None:
    import datetime as dt

    short = fx.services.tokens.create(
        "brief", ["viewer"], actor="root", expires_in=dt.timedelta(microseconds=1)
    ).secret
    fx.services.tokens.revoke("viewer-1", actor="root")
    with fx.client() as client:
        for header in (
            "Bearer shy_not-a-real-token",
            "Basic abc",
            f"Bearer {short}",
            f"Bearer {fx.tokens['viewer']}",
        ):
            got = client.get("/api/models", headers={"authorization": header})
            assert got.status_code == 401, (header, got.text)
        assert client.get("/api/models", headers=_auth(fx.tokens["admin"])).status_code == 200


# -- browser rules ------------------------------------------------------------------------------------


def test_browser_rules(fx: Fixture) -> None:
    op = fx.tokens["operator"]
    body = b'{"name":"x2","routes":[{"target":"cancer/1","weight":100}]}'
    with fx.client() as client:
        plain = client.post(
            "/api/deployments", content=body, headers={**_auth(op), "content-type": "text/plain"}
        )
        assert plain.status_code == 415 and plain.json()["type"] == "UnsupportedMediaType"
        foreign = client.post(
            "/api/deployments", content=body, headers=_json(op, origin="https://evil.example")
        )
        assert foreign.status_code == 403 and "--cors-origin" in foreign.json()["error"]
        rebound = client.get("/api/models", headers={**_auth(op), "host": "evil.example:8000"})
        assert rebound.status_code == 403 and "--allowed-host" in rebound.json()["error"]
        same = client.post(
            "/api/deployments", content=body, headers=_json(op, origin="http://127.0.0.1:8000")
        )
        assert same.status_code == 201, same.text
        no_cors = client.get("/api/models", headers={**_auth(op), "origin": "https://a.example"})
        assert "access-control-allow-origin" not in no_cors.headers
    with fx.client(
        cors_origins=["https://console.example"], allowed_hosts=["models.example"]
    ) as client:
        ok = client.get(
            "/api/models",
            headers={**_auth(op), "origin": "https://console.example", "host": "models.example"},
        )
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://console.example"


# -- the attacks --------------------------------------------------------------------------------------


def test_attack_anonymous_deployment_named_after_the_endpoint(fx: Fixture) -> None:
    body = b'{"name":"cancer","routes":[{"target":"cancer/2","weight":100}]}'
    with fx.client() as client:
        _wait_ready(client)
        simple = client.post(  # the CORS "simple" request of the issue
            "/api/deployments",
            content=body,
            headers={
                "content-type": "text/plain",
                "origin": "https://evil.example",
                "host": "evil.example",
            },
        )
        assert simple.status_code == 403  # foreign Host first
        anonymous = client.post("/api/deployments", content=body, headers=_json())
        assert anonymous.status_code == 401
        operator = client.post(
            "/api/deployments", content=body, headers=_json(fx.tokens["operator"])
        )
        assert operator.status_code == 409
        assert "cannot route to cancer/2" in operator.json()["error"]
        by_alias = client.post(
            "/api/deployments",
            content=b'{"name":"cancer","routes":[{"target":"cancer@latest","weight":100}]}',
            headers=_json(fx.tokens["admin"]),
        )
        assert by_alias.status_code == 409
        other_model = client.post(
            "/api/deployments",
            content=b'{"name":"cancer","routes":[{"target":"evil/1","weight":100}]}',
            headers=_json(fx.tokens["admin"]),
        )
        assert other_model.status_code in (404, 409)
    assert fx.services.deployments.store.find("cancer") is None
    assert fx.services.registry.get_alias("cancer", "champion").version == 1


def test_attack_rollback_and_roll_forward_onto_a_rejected_version(fx: Fixture) -> None:
    with fx.client() as client:
        anonymous = client.post("/api/rollouts/cancer/rollback", headers=_json())
        assert anonymous.status_code == 401
        back = client.post(
            "/api/rollouts/cancer/rollback", content=b"{}", headers=_json(fx.tokens["operator"])
        )
        assert back.status_code == 409, back.text  # the previous target, v3, was rejected
        assert "cancer/3 needs 2 approval(s)" in back.json()["error"]
        forward = client.post(
            "/api/rollouts/cancer", content=b'{"to": 3}', headers=_json(fx.tokens["operator"])
        )
        assert forward.status_code == 409 and "rejected" in forward.json()["error"]
        direct = client.put(
            "/api/models/cancer/aliases/champion",
            content=b'{"version": 3}',
            headers=_json(fx.tokens["admin"]),
        )
        assert direct.status_code == 409
        by_operator = client.put(
            "/api/models/cancer/aliases/champion",
            content=b'{"version": 1}',
            headers=_json(fx.tokens["operator"]),
        )
        assert by_operator.status_code == 403  # a protected alias is moved by hand by admins
    assert fx.services.registry.get_alias("cancer", "champion").version == 1
    with pytest.raises(Conflict):  # and on the service directly, as the controller would
        fx.services.rollouts.rollback("cancer")


def test_attack_one_person_cannot_be_two_approvers(fx: Fixture) -> None:
    with fx.client() as client:
        own = client.post(
            "/api/models/cancer/versions/2/approve",
            content=b'{"comment": "mine"}',
            headers=_json(fx.tokens["alice"]),
        )
        assert own.status_code == 409 and "cannot approve their own" in own.json()["error"]
        first = client.post(
            "/api/models/cancer/versions/2/approve",
            content=b"{}",
            headers=_json(fx.tokens["bob"], **{"x-shipyard-actor": "dave"}),
        )
        assert first.status_code == 200 and first.json()["approvals"][0]["actor"] == "bob"
        again = client.post(
            "/api/models/cancer/versions/2/approve",
            content=b"{}",
            headers=_json(fx.tokens["bob"]),
        )
        assert again.status_code == 409 and "already approved" in again.json()["error"]
        assert fx.services.governance.status("cancer", 2).status == "pending"
        second = client.post(
            "/api/models/cancer/versions/2/approve",
            content=b"{}",
            headers=_json(fx.tokens["approver"]),
        )
        assert second.json()["status"] == "approved"
        moved = client.put(
            "/api/models/cancer/aliases/champion",
            content=b'{"version": 2, "reason": "approved"}',
            headers=_json(fx.tokens["admin"]),
        )
        assert moved.status_code == 200, moved.text
    [event] = fx.services.registry.audit(action="alias.set", limit=1)
    assert event.actor == "admin-1"  # the verified principal, not the server's OS user


def test_without_tokens_a_loopback_server_is_anonymous_but_cannot_approve(
    tmp_path: Path,
) -> None:
    services = _registry(tmp_path / "h")
    try:
        with Client(create_app(services, _config())) as client:
            listed = client.get("/api/models")
            assert listed.status_code == 200
            approve = client.post(
                "/api/models/cancer/versions/2/approve", content=b"{}", headers=_json()
            )
            assert approve.status_code == 403
        with pytest.raises(Conflict, match="shipyard tokens create NAME --role admin"):
            create_app(services, _config(host="0.0.0.0"))
        create_app(services, _config(host="0.0.0.0", insecure_no_auth=True))
    finally:
        services.close()


def test_open_predict_and_metrics(fx: Fixture) -> None:
    row = b'{"columns":{"x":[1.0]}}'
    with fx.client() as client:
        _wait_ready(client)
        assert (
            client.post("/v1/models/cancer/predict", content=row, headers=_json()).status_code
            == 401
        )
        assert client.get("/metrics").status_code == 200  # loopback bind
    with fx.client(open_predict=True, protect_metrics=True) as client:
        _wait_ready(client)
        assert (
            client.post("/v1/models/cancer/predict", content=row, headers=_json()).status_code
            == 200
        )
        assert client.get("/api/models").status_code == 401
        assert client.get("/metrics").status_code == 401


def test_a_broken_audit_chain_stops_the_server(fx: Fixture) -> None:
    import sqlalchemy as sa

    from shipyard.registry.sql.tables import audit_events

    store = fx.services.registry.store
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(sa.update(audit_events).where(audit_events.c.id == 2).values(actor="x"))
    report = fx.services.registry.verify_audit()
    assert report.broken_at == 2
    with pytest.raises(Conflict, match="shipyard audit verify"):
        create_app(fx.services, _config())
    create_app(fx.services, _config(ignore_audit_chain=True))
