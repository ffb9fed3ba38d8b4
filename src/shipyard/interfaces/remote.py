"""The SDK's transport to a running ``shipyard serve``: the native JSON route over httpx.

Error responses become the same ``ShipyardError`` classes the server raised (by the ``type`` field).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import orjson

from shipyard.core import errors
from shipyard.serving.codecs import native

_BY_STATUS: dict[int, type[errors.ShipyardError]] = {
    400: errors.InvalidArgument,
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
    return cls(message)


class RemoteServer:
    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def predict(
        self, endpoint: str, data: object, *, probabilities: bool
    ) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None]:
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
