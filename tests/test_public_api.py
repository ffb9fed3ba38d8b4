"""The curated public namespace, the error table and the layering."""

from __future__ import annotations

import shipyard
from shipyard.core import errors
from shipyard.interfaces.cli.errors import EXIT_CODES


def test_public_names() -> None:
    assert sorted(shipyard.__all__) == sorted(
        [
            "AliasEvent",
            "Client",
            "Deployment",
            "DriftReport",
            "Explanation",
            "Model",
            "ModelVersion",
            "RegisteredModel",
            "RolloutRecord",
            "RolloutStatus",
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


# Client.registry hands out the RegistryService itself (tests and power users reach the store
# through it); every other method returns exported types, builtins or numpy arrays.
_NOT_ENTITIES = {"Any", "Client", "None", "bool", "dict", "float", "int", "list", "npt", "str"}


def test_the_sdk_returns_only_exported_types() -> None:
    import inspect
    import re

    from shipyard.interfaces.sdk import Client

    assert not hasattr(Client, "services")  # the services are private to the client
    methods = {
        name: fn
        for name, fn in vars(Client).items()
        if not name.startswith("_") and name != "registry" and callable(fn)
    }
    assert {"log_model", "set_alias", "deploy", "start_rollout", "get_model"} <= set(methods)
    for name, fn in methods.items():
        returned = inspect.signature(fn).return_annotation
        names = set(re.findall(r"[A-Za-z_][A-Za-z_.]*", str(returned))) - _NOT_ENTITIES
        names = {n for n in names if not n.startswith("npt.")}
        assert names <= set(shipyard.__all__), f"Client.{name} returns {returned}"


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
