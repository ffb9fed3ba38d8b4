"""The CLI's one error table: ShipyardError class -> exit code. Checked complete by a test."""

from __future__ import annotations

from shipyard.core import errors

EXIT_CODES: dict[type[errors.ShipyardError], int] = {
    errors.ShipyardError: 1,
    errors.InvalidArgument: 2,
    errors.SchemaError: 2,
    errors.PayloadTooLarge: 2,
    errors.RequestTimeout: 2,
    errors.UnsupportedMediaType: 2,
    errors.NotFound: 3,
    errors.AlreadyExists: 4,
    errors.Conflict: 4,
    errors.PackageError: 5,
    errors.IntegrityError: 5,
    errors.UnsafeFormatError: 5,
    errors.UntrustedCode: 5,
    errors.MissingDependency: 6,
    errors.ModelFailure: 8,
    errors.Unavailable: 7,
    errors.Overloaded: 7,
}


def exit_code(exc: errors.ShipyardError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]  # type: ignore[index]
    return 1
