"""``GovernanceService``: protected aliases and the approval of versions.

The rules, in one place:

- **Protected alias.** ``protect(name, alias, N)`` marks ``name@alias`` (e.g. ``churn@champion``) as
  one that only approved versions may become; N is how many distinct people must approve.
- **A version's status** is ``pending`` until decided, then ``approved`` or ``rejected``. Both are
  **final**: any later approve or reject of that version is a ``Conflict`` (register a new version).
- **Approving.** A version becomes ``approved`` at the decision that brings it to ``required``
  distinct approvers, where ``required`` is the strictest ``N`` among the model's protected aliases
  (1 when none is protected). Until then it stays ``pending``.
- **No self-approval.** The actor who created the version (``ModelVersion.created_by``) cannot
  approve it; the same actor cannot approve twice.
- **Rejecting.** One rejection, by anyone (the creator may withdraw their own version, and an earlier
  approver may change their mind while the version is pending), makes the version ``rejected``.
- **Changing the requirement** re-evaluates pending versions: lowering N approves a pending version
  that already has enough approvers; raising it never revokes an approval (approved is final).
- **Enforcement.** ``check_can_point(name, alias, version)`` raises ``Conflict`` unless the alias is
  unprotected, or the version is ``approved``, or it is ``pending`` with at least that alias's N
  approvers (an alias needing fewer approvers than the strictest one is satisfied sooner). The same
  rule is enforced by the stores inside every transaction that changes what serves
  (``registry/sql/guard.py``): alias moves, deployment writes, rollouts and rollbacks.
- **Verified identities.** ``actor`` is a verified principal: the HTTP edge passes the token's name,
  the local CLI the OS user. Self-asserted names (``--actor``) are not accepted anywhere.

Every protection change and every decision writes an audit event in the same transaction.
"""

from __future__ import annotations

from shipyard.core.errors import Conflict, InvalidArgument
from shipyard.registry.entities import ApprovalStatus, ProtectedAlias
from shipyard.registry.refs import check_alias, check_name
from shipyard.registry.service import RegistryService
from shipyard.registry.sql.guard import refusal
from shipyard.registry.store import GovernanceStore

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"


def settled(current: ApprovalStatus) -> str:
    """The status a version has given its decisions and the current requirement (pure)."""
    if current.final:
        return current.status
    return APPROVED if len(set(current.approved_by)) >= current.required else PENDING


def judge(current: ApprovalStatus, *, decision: str, actor: str, created_by: str) -> str:
    """The status after ``actor``'s ``decision`` on a version, or ``Conflict`` if refused (pure)."""
    ref = f"{current.name}/{current.version}"
    if current.final:
        raise Conflict(
            f"{ref} is already {current.status}; approval decisions are final, "
            "register a new version to review again"
        )
    if decision == REJECTED:
        return REJECTED
    if actor == created_by:
        raise Conflict(f"{actor} created {ref} and cannot approve their own version")
    if actor in current.approved_by:
        raise Conflict(
            f"{actor} has already approved {ref}; it needs {current.required} distinct approver(s)"
        )
    after = len(set(current.approved_by)) + 1
    return APPROVED if after >= current.required else PENDING


class GovernanceService:
    def __init__(self, store: GovernanceStore, registry: RegistryService) -> None:
        self.store = store
        self.registry = registry

    # -- protected aliases --------------------------------------------------------------------------

    def protect(
        self, name: str, alias: str, required_approvals: int = 1, *, actor: str | None = None
    ) -> ProtectedAlias:
        """Require ``required_approvals`` distinct approvers before a version becomes ``name@alias``."""
        check_name(name)
        check_alias(alias)
        if required_approvals < 1:
            raise InvalidArgument(
                f"required approvals must be >= 1, got {required_approvals}; "
                "use unprotect to lift the protection"
            )
        return self.store.set_protection(
            name,
            alias,
            required_approvals,
            actor=actor or self.registry.actor,
            settle=settled,
        )

    def unprotect(self, name: str, alias: str, *, actor: str | None = None) -> None:
        """Lift the protection of ``name@alias`` (``NotFound`` if it was not protected)."""
        check_alias(alias)
        self.store.delete_protection(
            name, alias, actor=actor or self.registry.actor, settle=settled
        )

    def protected(self, name: str, alias: str) -> int | None:
        """How many approvers ``name@alias`` requires, or None when it is not protected."""
        return self.store.get_protection(name, alias)

    def list_protected(self, name: str) -> list[ProtectedAlias]:
        return self.store.list_protection(name)

    # -- decisions ----------------------------------------------------------------------------------

    def approve(self, name: str, version: int, *, actor: str, comment: str = "") -> ApprovalStatus:
        """Record ``actor``'s approval; returns the version's status after it."""
        return self._decide(name, version, APPROVED, actor, comment)

    def reject(self, name: str, version: int, *, actor: str, comment: str = "") -> ApprovalStatus:
        """Record ``actor``'s rejection: the version becomes ``rejected`` for good."""
        return self._decide(name, version, REJECTED, actor, comment)

    def _decide(
        self, name: str, version: int, decision: str, actor: str, comment: str
    ) -> ApprovalStatus:
        if not actor:
            raise InvalidArgument("an approval decision needs the name of who takes it")
        return self.store.decide(
            name,
            version,
            decision,
            actor=actor,
            comment=comment,
            judge=lambda current, creator: judge(
                current, decision=decision, actor=actor, created_by=creator
            ),
        )

    def status(self, name: str, version: int) -> ApprovalStatus:
        return self.store.status(name, version)

    def queue(self, limit: int = 100) -> list[ApprovalStatus]:
        """Versions waiting on a review: undecided, of a model with a protected alias, and newer
        than what its protected aliases point to; newest first."""
        return self.store.queue(limit)

    # -- enforcement --------------------------------------------------------------------------------

    def check_can_point(self, name: str, alias: str, version: int) -> None:
        """Raise ``Conflict`` if ``name/version`` may not become ``name@alias`` yet (see module doc)."""
        required = self.protected(name, alias)
        if required is None:
            return
        current = self.status(name, version)
        why = refusal(name, alias, version, required, current.status, len(set(current.approved_by)))
        if why:
            raise Conflict(why)
