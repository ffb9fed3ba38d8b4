"""The CLI's one error table: ShipyardError class -> exit code. Checked complete by a test, and
listed in ``docs/cli.md`` (a test checks that too)."""

from __future__ import annotations

from typing import Final

from shipyard.core import errors

SUCCESS: Final = 0
USAGE_ERROR: Final = 2
"""An unknown option, a missing argument or a value of the wrong type (same code as InvalidArgument)."""
INTERNAL_ERROR: Final = 70
"""An unexpected exception: a bug (EX_SOFTWARE of sysexits.h)."""
INTERRUPTED: Final = 130
"""Ctrl-C."""
DEBUG_ENV: Final = "SHIPYARD_DEBUG"
"""Set to 1 to see the traceback of an unexpected exception instead of its one line."""

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
    errors.StaleLease: 4,
    errors.Unauthenticated: 9,
    errors.Forbidden: 10,
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
