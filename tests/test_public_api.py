"""The curated public namespace, the error table and the layering."""

from __future__ import annotations

import shipyard
from shipyard.core import errors
from shipyard.interfaces.cli.errors import EXIT_CODES


def test_public_names() -> None:
    assert sorted(shipyard.__all__) == sorted(
        [
            "Client",
            "DriftReport",
            "Explanation",
            "Model",
            "ModelVersion",
            "Settings",
            "ShipyardError",
            "Signature",
            "__version__",
            "drift",
            "hookimpl",
            "load_model",
            "log_model",
            "package",
        ]
    )
    for name in shipyard.__all__:
        assert getattr(shipyard, name) is not None


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_error_class_has_an_exit_code() -> None:
    every = {errors.ShipyardError} | _subclasses(errors.ShipyardError)
    assert every <= set(EXIT_CODES)
    assert len(set(EXIT_CODES.values())) > 5


def test_every_error_class_has_an_http_status() -> None:
    from shipyard.interfaces.http.errors import STATUS

    every = {errors.ShipyardError} | _subclasses(errors.ShipyardError)
    assert every <= set(STATUS)
    client_errors = {
        errors.InvalidArgument,
        errors.SchemaError,
        errors.NotFound,
        errors.Conflict,
        errors.AlreadyExists,
        errors.PayloadTooLarge,
        errors.UnsupportedMediaType,
    }
    assert all(400 <= STATUS[cls] < 500 for cls in client_errors)
