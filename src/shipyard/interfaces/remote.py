"""Transports to a running ``shipyard serve`` over httpx: predictions (``RemoteServer``) and the
management API (``RemoteRegistry``, used by the CLI and SDK when ``SHIPYARD_URL`` is set).

Both send ``Authorization: Bearer <token>`` when given a token. Error responses become the same
``ShipyardError`` classes the server raised (by the ``type`` field).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from shipyard.core import errors

if TYPE_CHECKING:  # numpy and the codecs only for predictions, never for registry commands
    import numpy.typing as npt

    from shipyard.package.explanation import Explanation

_BY_STATUS: dict[int, type[errors.ShipyardError]] = {
    400: errors.InvalidArgument,
    401: errors.Unauthenticated,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.PayloadTooLarge,
    415: errors.UnsupportedMediaType,
    500: errors.ModelFailure,
    503: errors.Unavailable,
}


def _error(response: httpx.Response) -> errors.ShipyardError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    message = str(body.get("error") or response.text or f"HTTP {response.status_code}")
    cls = getattr(errors, str(body.get("type", "")), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.ShipyardError)):
        cls = _BY_STATUS.get(response.status_code, errors.ShipyardError)
    if cls is errors.SchemaError:
        return errors.SchemaError(message, field=body.get("field"))
    if cls is errors.Overloaded:
        return errors.Overloaded(message, retry_after=float(response.headers.get("retry-after", 1)))
    if cls is errors.MissingDependency:
        return errors.ShipyardError(message)
    if issubclass(cls, errors.Conflict):
        revision = body.get("current_revision")
        return cls(message, current_revision=int(revision) if revision is not None else None)
    return cls(message)


def _headers(token: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"} if token else {}


class RemoteServer:
    def __init__(self, url: str, *, timeout: float = 30.0, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=_headers(token))

    def close(self) -> None:
        self._http.close()

    def predict(
        self, endpoint: str, data: object, *, probabilities: bool
    ) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None]:
        import numpy as np

        from shipyard.serving.codecs import native

        try:
            response = self._http.post(
                f"/v1/models/{endpoint}/predict",
                content=native.encode_request(data),
                params={"probabilities": "true" if probabilities else "false"},
                headers={"content-type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise errors.Unavailable(f"cannot reach the model server at {self.url}: {exc}") from exc
        if response.status_code != 200:
            raise _error(response)
        body = orjson.loads(response.content)
        proba = body.get("probabilities")
        return np.asarray(body["predictions"]), None if proba is None else np.asarray(proba)

    def explain(self, endpoint: str, data: object, *, target: object | None) -> Explanation:
        from shipyard.package.explanation import Explanation
        from shipyard.serving.codecs import native

        body = orjson.loads(native.encode_request(data))
        if target is not None:
            body["target"] = target
        try:
            response = self._http.post(
                f"/v1/models/{endpoint}/explain",
                content=orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
                headers={"content-type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise errors.Unavailable(f"cannot reach the model server at {self.url}: {exc}") from exc
        if response.status_code != 200:
            raise _error(response)
        return Explanation.from_dict(orjson.loads(response.content))

    def feedback(self, labels: Mapping[str, object], *, overwrite: bool = False) -> dict[str, Any]:
        items = {
            "items": [{"request_id": rid, "label": label} for rid, label in labels.items()],
            "overwrite": overwrite,
        }
        try:
            response = self._http.post(
                "/v1/feedback",
                content=orjson.dumps(items, option=orjson.OPT_SERIALIZE_NUMPY),
                headers={"content-type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise errors.Unavailable(f"cannot reach the model server at {self.url}: {exc}") from exc
        if response.status_code != 200:
            raise _error(response)
        result: dict[str, Any] = orjson.loads(response.content)
        return result

    def ready(self) -> bool:
        try:
            return self._http.get("/v2/health/ready").status_code == 200
        except httpx.HTTPError:
            return False


class RemoteRegistry:
    """The management API of a server: JSON in and out, as the principal of ``token``."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise errors.InvalidArgument(f"--url must start with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=_headers(token))

    def close(self) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        body: Mapping[str, object] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        try:
            response = self._http.request(
                method,
                path,
                params=params,
                content=None if method == "GET" else orjson.dumps(dict(body or {})),
                headers=None if method == "GET" else {"content-type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise errors.Unavailable(f"cannot reach the server at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise _error(response)
        return orjson.loads(response.content)

    # the operations the CLI and the SDK run remotely (see interfaces/http/registry_api.py)

    def set_alias(self, name: str, alias: str, version: int, *, reason: str = "") -> Any:
        return self.call(
            "PUT", f"/api/models/{name}/aliases/{alias}", {"version": version, "reason": reason}
        )

    def delete_alias(self, name: str, alias: str, *, reason: str = "") -> Any:
        return self.call("DELETE", f"/api/models/{name}/aliases/{alias}", {"reason": reason})

    def decide(self, decision: str, name: str, version: int, *, comment: str = "") -> Any:
        return self.call(
            "POST", f"/api/models/{name}/versions/{version}/{decision}", {"comment": comment}
        )

    def start_rollout(self, endpoint: str, body: Mapping[str, object]) -> Any:
        return self.call("POST", f"/api/rollouts/{endpoint}", body)

    def rollout_action(self, endpoint: str, action: str) -> Any:
        return self.call("POST", f"/api/rollouts/{endpoint}/{action}", {})
