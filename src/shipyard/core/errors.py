"""The errors Shipyard raises, as one small tree.

    ShipyardError                    anything Shipyard raises on purpose
    ├── InvalidArgument              the caller passed something malformed (bad reference, bad name, ...)
    │   ├── SchemaError              data does not match a model signature (names the field)
    │   ├── PayloadTooLarge          a request body is over the size limit
    │   ├── RequestTimeout           a request body did not arrive in time
    │   └── UnsupportedMediaType     a request body is in a format the route does not read
    ├── NotFound                     a model, version, alias or file does not exist
    ├── AlreadyExists                a name that must be unique is taken
    ├── Conflict                     the request is valid but the current state forbids it
    │   └── StaleLease               a controller's write was refused: its lease was taken over
    ├── Unauthenticated              no credentials, or credentials that identify nobody
    ├── Forbidden                    the principal's roles do not grant the permission
    ├── PackageError                 a package cannot be written or read
    │   ├── IntegrityError           a file's digest does not match the manifest: nothing is loaded
    │   └── UnsafeFormatError        pickle-based loading was refused (explicit opt-in needed)
    │       └── UntrustedCode        a package's own Python code was not trusted to run
    ├── MissingDependency            an optional extra is not installed (message has the pip command)
    ├── ModelFailure                 the model itself raised while predicting
    └── Unavailable                  a backing service cannot be reached, or is not ready yet
        └── Overloaded               too much queued work: retry after ``retry_after`` seconds

Adapters (CLI, HTTP) map these classes to exit codes and statuses in one table each. This module
imports no web or CLI framework.
"""

from __future__ import annotations


class ShipyardError(Exception):
    """Base class of every error Shipyard raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidArgument(ShipyardError):
    """The caller passed a malformed value."""


class SchemaError(InvalidArgument):
    """Input data does not match the model signature."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PayloadTooLarge(InvalidArgument):
    """A request body is larger than the configured limit."""


class RequestTimeout(InvalidArgument):
    """A request body did not arrive within the deadline (a stalled upload)."""


class UnsupportedMediaType(InvalidArgument):
    """A request body's format is not one the route reads."""


class NotFound(ShipyardError):
    """The requested object does not exist."""


class AlreadyExists(ShipyardError):
    """An object with this identity already exists."""


class Conflict(ShipyardError):
    """The request is well formed but the current state forbids it.

    ``current_revision`` is set when a compare-and-set lost: the revision the object is at now.
    """

    def __init__(self, message: str, *, current_revision: int | None = None) -> None:
        super().__init__(message)
        self.current_revision = current_revision


class StaleLease(Conflict):
    """A write made under a lease whose fencing token is no longer the current one."""


class Unauthenticated(ShipyardError):
    """The caller presented no token, or one that is unknown, expired or revoked."""


class Forbidden(ShipyardError):
    """The caller is known but its roles do not grant what it asked for."""


class PackageError(ShipyardError):
    """A model package cannot be written or read."""


class IntegrityError(PackageError):
    """A package file does not match its recorded digest."""


class UnsafeFormatError(PackageError):
    """Loading would unpickle data, which can execute arbitrary code; refused without opt-in."""


class UntrustedCode(UnsafeFormatError):
    """A package would run its own Python code, and nobody decided to trust it."""


class MissingDependency(ShipyardError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str, *, needed_for: str | None = None) -> None:
        hint = f"install it with: pip install 'shipyard[{extra}]'"
        super().__init__(
            f"{needed_for} needs {package}, which is not installed; {hint}"
            if needed_for
            else f"{package} is not installed; {hint}"
        )
        self.package = package
        self.extra = extra


class ModelFailure(ShipyardError):
    """The model raised while predicting; the message names the error class."""

    def __init__(
        self, message: str, *, model: str | None = None, version: int | None = None
    ) -> None:
        super().__init__(message)
        self.model = model
        self.version = version


class Unavailable(ShipyardError):
    """A backing service cannot be reached, or a model is not ready yet; with ``retry_after``,
    the caller may retry after that many seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Overloaded(Unavailable):
    """Too much work is queued; the caller should retry after ``retry_after`` seconds."""

    retry_after: float

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message, retry_after=retry_after)


__all__ = [
    "AlreadyExists",
    "Conflict",
    "Forbidden",
    "IntegrityError",
    "InvalidArgument",
    "MissingDependency",
    "ModelFailure",
    "NotFound",
    "Overloaded",
    "PackageError",
    "PayloadTooLarge",
    "RequestTimeout",
    "SchemaError",
    "ShipyardError",
    "StaleLease",
    "Unauthenticated",
    "Unavailable",
    "UnsafeFormatError",
    "UntrustedCode",
]
