"""The HTTP adapter's one error table: ShipyardError class -> status. Checked complete by a test."""

from __future__ import annotations

from shipyard.core import errors

STATUS: dict[type[errors.ShipyardError], int] = {
    errors.ShipyardError: 500,
    errors.InvalidArgument: 400,
    errors.SchemaError: 400,
    errors.PayloadTooLarge: 413,
    errors.RequestTimeout: 408,
    errors.UnsupportedMediaType: 415,
    errors.NotFound: 404,
    errors.AlreadyExists: 409,
    errors.Conflict: 409,
    errors.PackageError: 500,
    errors.IntegrityError: 500,
    errors.UnsafeFormatError: 500,
    errors.UntrustedCode: 500,
    errors.MissingDependency: 500,
    errors.ModelFailure: 500,
    errors.Unavailable: 503,
    errors.Overloaded: 503,
}

MLFLOW_CODES = {
    400: "BAD_REQUEST",
    404: "RESOURCE_DOES_NOT_EXIST",
    413: "BAD_REQUEST",
    408: "BAD_REQUEST",
    415: "BAD_REQUEST",
    409: "INVALID_STATE",
    503: "TEMPORARILY_UNAVAILABLE",
}


def status_of(exc: errors.ShipyardError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 500
