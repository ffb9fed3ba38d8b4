"""The gRPC adapter's one error table: ShipyardError class -> status code. Checked complete by a test.

Codes are names of ``grpc.StatusCode`` so that this table is importable without grpcio.
"""

from __future__ import annotations

from shipyard.core import errors

STATUS: dict[type[errors.ShipyardError], str] = {
    errors.ShipyardError: "INTERNAL",
    errors.InvalidArgument: "INVALID_ARGUMENT",
    errors.SchemaError: "INVALID_ARGUMENT",
    errors.PayloadTooLarge: "RESOURCE_EXHAUSTED",
    errors.UnsupportedMediaType: "INVALID_ARGUMENT",
    errors.NotFound: "NOT_FOUND",
    errors.AlreadyExists: "ALREADY_EXISTS",
    errors.Conflict: "FAILED_PRECONDITION",
    errors.StaleLease: "FAILED_PRECONDITION",
    errors.PackageError: "INTERNAL",
    errors.IntegrityError: "INTERNAL",
    errors.UnsafeFormatError: "INTERNAL",
    errors.MissingDependency: "INTERNAL",
    errors.ModelFailure: "INTERNAL",
    errors.Unavailable: "UNAVAILABLE",
    errors.Unauthenticated: "UNAUTHENTICATED",
    errors.Forbidden: "PERMISSION_DENIED",
    errors.Overloaded: "RESOURCE_EXHAUSTED",
    errors.RequestTimeout: "DEADLINE_EXCEEDED",
    errors.UntrustedCode: "FAILED_PRECONDITION",
}


def code_of(exc: errors.ShipyardError) -> str:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return "INTERNAL"
