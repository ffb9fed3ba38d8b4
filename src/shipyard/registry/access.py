"""Who may do what: roles, permissions and principals, defined once.

A **principal** is who acts: a token's name on the server, the OS user on the local CLI with direct
database access. Roles grant permissions:

============  =====================================================================================
role          permissions
============  =====================================================================================
viewer        ``read``
predictor     ``predict``, ``feedback``
operator      ``read``, ``deploy`` (deployments, rollouts, aliases that are not protected, tags,
              retraining)
approver      ``read``, ``approve`` (approve and reject versions)
admin         everything, including ``protect`` (protection, protected aliases) and ``tokens``
============  =====================================================================================

The HTTP edge authenticates a request to a ``Principal`` and checks the permission its operation
needs in one table (``interfaces/http/permissions.py``); the governance rules then see only verified
principal names as actors.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from enum import StrEnum

from shipyard.core.errors import Forbidden, InvalidArgument


class Role(StrEnum):
    VIEWER = "viewer"
    PREDICTOR = "predictor"
    OPERATOR = "operator"
    APPROVER = "approver"
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read"
    """Read models, versions, aliases, deployments, rollouts, approvals, the audit log, metrics."""
    PREDICT = "predict"
    FEEDBACK = "feedback"
    DEPLOY = "deploy"
    """Deployments, rollouts, aliases that are not protected, tags, retraining."""
    APPROVE = "approve"
    """Approve or reject a version."""
    PROTECT = "protect"
    """Protect aliases and move protected aliases by hand."""
    TOKENS = "tokens"
    """Create, list and revoke tokens."""


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.PREDICTOR: frozenset({Permission.PREDICT, Permission.FEEDBACK}),
    Role.OPERATOR: frozenset({Permission.READ, Permission.DEPLOY}),
    Role.APPROVER: frozenset({Permission.READ, Permission.APPROVE}),
    Role.ADMIN: frozenset(Permission),
}


def parse_roles(names: list[str] | tuple[str, ...]) -> tuple[Role, ...]:
    """Role names from a user (``--role``), checked; at least one."""
    if not names:
        raise InvalidArgument(f"give at least one role: {', '.join(Role)}")
    roles: list[Role] = []
    for name in names:
        try:
            role = Role(name)
        except ValueError:
            raise InvalidArgument(f"role must be one of {', '.join(Role)}, got {name!r}") from None
        if role not in roles:
            roles.append(role)
    return tuple(roles)


@dataclass(frozen=True)
class Principal:
    """An authenticated identity and its roles."""

    name: str
    roles: tuple[Role, ...]
    kind: str = "token"
    """``token`` (a bearer token on the server), ``os`` (the OS user with database access) or
    ``anonymous`` (a server without auth: never counts as an approver)."""

    @property
    def permissions(self) -> frozenset[Permission]:
        granted: set[Permission] = set()
        for role in self.roles:
            granted |= ROLE_PERMISSIONS[role]
        return frozenset(granted)

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        """Raise ``Forbidden`` unless one of the principal's roles grants ``permission``."""
        if not self.can(permission):
            roles = ", ".join(self.roles) or "no role"
            granting = ", ".join(r for r, p in ROLE_PERMISSIONS.items() if permission in p)
            raise Forbidden(
                f"{self.name} ({roles}) lacks the {permission!s} permission; "
                f"it needs one of the roles: {granting}"
            )


ANONYMOUS = Principal("anonymous", (Role.VIEWER, Role.PREDICTOR, Role.OPERATOR), kind="anonymous")
"""Who calls a server without auth (loopback, no token yet): no approvals, protection or tokens."""


def os_user() -> str:
    """The OS user running this process: the principal of the local CLI and SDK."""
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (containers): still need a name
        return "unknown"


def local_principal() -> Principal:
    """Whoever has direct database access can change anything in it: an admin, by OS user."""
    return Principal(os_user(), (Role.ADMIN,), kind="os")
