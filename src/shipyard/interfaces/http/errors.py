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
    errors.StaleLease: 409,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
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
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    503: "TEMPORARILY_UNAVAILABLE",
}


def mlflow_code(exc: errors.ShipyardError) -> str:
    """mlflow's ``error_code``: schema errors are INVALID_PARAMETER_VALUE, as mlflow writes them."""
    if isinstance(exc, errors.SchemaError):
        return "INVALID_PARAMETER_VALUE"
    return MLFLOW_CODES.get(status_of(exc), "INTERNAL_ERROR")


def status_of(exc: errors.ShipyardError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 500
