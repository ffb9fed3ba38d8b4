"""Protected aliases and approvals on both backends, plus the governance CLI commands."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from shipyard.app import build
from shipyard.core.config import Settings
from shipyard.core.errors import Conflict, InvalidArgument, NotFound
from shipyard.interfaces.cli import governance as cli
from shipyard.interfaces.cli.context import set_overrides, state
from shipyard.registry.access import os_user
from shipyard.registry.entities import ModelVersion
from shipyard.registry.governance import GovernanceService
from shipyard.registry.service import RegistryService
from shipyard.registry.sql.governance import SqlGovernanceStore
from shipyard.registry.sql.store import SqlRegistryStore
from shipyard.testing import ThresholdModel

FRAME = pd.DataFrame({"x": [0.0, 1.0, 2.0]})


def _log(registry: RegistryService, actor: str = "alice") -> ModelVersion:
    return registry.log_model(ThresholdModel(), name="churn", X_sample=FRAME, actor=actor)


@pytest.fixture
def gov(registry: RegistryService, store: SqlRegistryStore) -> GovernanceService:
    return GovernanceService(SqlGovernanceStore(store), registry)


def test_two_approvers_are_needed_then_the_version_may_become_champion(
    registry: RegistryService, gov: GovernanceService
) -> None:
    v = _log(registry)
    protected = gov.protect("churn", "champion", required_approvals=2)
    assert (protected.required_approvals, protected.updated_by) == (2, "tester")
    assert gov.protected("churn", "champion") == 2 and gov.protected("churn", "staging") is None
    first = gov.status("churn", v.version)
    assert (first.status, first.approvals, first.required) == ("pending", (), 2)
    with pytest.raises(Conflict) as refused:
        gov.check_can_point("churn", "champion", 1)
    assert str(refused.value) == (
        "churn/1 needs 2 approval(s) before it can become @champion; it has 0 (pending)"
    )

    after_bob = gov.approve("churn", 1, actor="bob", comment="metrics look right")
    assert after_bob.status == "pending" and after_bob.approved_by == ("bob",)
    assert after_bob.decided_at is None
    with pytest.raises(Conflict, match=r"it has 1 \(pending\)$"):
        gov.check_can_point("churn", "champion", 1)

    after_carol = gov.approve("churn", 1, actor="carol")
    assert after_carol.status == "approved" and after_carol.decided_at is not None
    assert [(a.actor, a.decision, a.comment) for a in after_carol.approvals] == [
        ("bob", "approved", "metrics look right"),
        ("carol", "approved", ""),
    ]
    gov.check_can_point("churn", "champion", 1)  # allowed now
    gov.check_can_point("churn", "shadow", 1)  # unprotected aliases are never checked
    assert gov.status("churn", 1) == after_carol


def test_the_creator_cannot_approve_their_own_version(
    registry: RegistryService, gov: GovernanceService
) -> None:
    _log(registry, actor="alice")
    gov.protect("churn", "champion")
    with pytest.raises(Conflict) as refused:
        gov.approve("churn", 1, actor="alice")
    assert str(refused.value) == "alice created churn/1 and cannot approve their own version"
    status = gov.status("churn", 1)
    assert (status.status, status.approvals) == ("pending", ())
    assert registry.audit(action="approval") == []  # nothing recorded for a refused decision


def test_the_same_actor_cannot_approve_twice(
    registry: RegistryService, gov: GovernanceService
) -> None:
    _log(registry)
    gov.protect("churn", "champion", required_approvals=2)
    gov.approve("churn", 1, actor="bob")
    with pytest.raises(Conflict) as refused:
        gov.approve("churn", 1, actor="bob")
    assert str(refused.value) == "bob has already approved churn/1; it needs 2 distinct approver(s)"
    assert gov.status("churn", 1).approved_by == ("bob",)


def test_one_rejection_is_final(registry: RegistryService, gov: GovernanceService) -> None:
    _log(registry)
    gov.protect("churn", "champion", required_approvals=2)
    gov.approve("churn", 1, actor="bob")
    rejected = gov.reject("churn", 1, actor="dave", comment="leaks the label")
    assert rejected.status == "rejected" and rejected.decided_at is not None
    final = "churn/1 is already rejected; approval decisions are final, register a new version"
    for decide in (gov.approve, gov.reject):
        with pytest.raises(Conflict, match=final):
            decide("churn", 1, actor="carol")
    with pytest.raises(Conflict) as refused:
        gov.check_can_point("churn", "champion", 1)
    assert str(refused.value) == (
        "churn/1 needs 2 approval(s) before it can become @champion; it has 1 (rejected)"
    )
    assert len(gov.status("churn", 1).approvals) == 2


def test_approval_is_final_too(registry: RegistryService, gov: GovernanceService) -> None:
    _log(registry)
    gov.protect("churn", "champion")
    assert gov.approve("churn", 1, actor="bob").status == "approved"
    for decide in (gov.approve, gov.reject):
        with pytest.raises(Conflict, match="churn/1 is already approved; approval decisions are"):
            decide("churn", 1, actor="carol")
    assert gov.status("churn", 1).approved_by == ("bob",)
    gov.protect("churn", "champion", required_approvals=3)  # raising the bar revokes nothing
    assert gov.status("churn", 1).status == "approved"
    gov.check_can_point("churn", "champion", 1)


def test_each_alias_checks_its_own_requirement_and_lowering_it_settles(
    registry: RegistryService, gov: GovernanceService
) -> None:
    _log(registry)
    gov.protect("churn", "champion", required_approvals=2)
    gov.protect("churn", "staging", required_approvals=1)
    assert gov.approve("churn", 1, actor="bob").status == "pending"  # strictest alias: 2
    gov.check_can_point("churn", "staging", 1)
    with pytest.raises(Conflict, match="needs 2 approval"):
        gov.check_can_point("churn", "champion", 1)
    gov.protect("churn", "champion", required_approvals=1)  # lowering approves what qualifies
    settled = gov.status("churn", 1)
    assert (settled.status, settled.required) == ("approved", 1)
    events = registry.audit(action="approval.settle")
    assert [(e.target, e.details["status"]) for e in events] == [("churn/1", "approved")]
    assert [p.alias for p in gov.list_protected("churn")] == ["champion", "staging"]
    gov.unprotect("churn", "staging")
    assert gov.protected("churn", "staging") is None


def test_every_decision_and_protection_change_is_audited(
    registry: RegistryService, gov: GovernanceService
) -> None:
    _log(registry)
    gov.protect("churn", "champion", required_approvals=2, actor="ops")
    gov.approve("churn", 1, actor="bob", comment="ok")
    gov.approve("churn", 1, actor="carol")
    gov.unprotect("churn", "champion", actor="ops")
    events = list(reversed(registry.audit(target="churn")))
    decisions = [
        (e.actor, e.action, e.target, dict(e.details))
        for e in events
        if e.action.startswith(("approval.", "protection."))
    ]
    assert decisions == [
        ("ops", "protection.set", "churn@champion", {"required": 2}),
        (
            "bob",
            "approval.approve",
            "churn/1",
            {"comment": "ok", "status": "pending", "approvals": 1, "required": 2},
        ),
        (
            "carol",
            "approval.approve",
            "churn/1",
            {"comment": "", "status": "approved", "approvals": 2, "required": 2},
        ),
        ("ops", "protection.delete", "churn@champion", {}),
    ]


def test_bad_arguments_and_missing_objects(
    registry: RegistryService, gov: GovernanceService
) -> None:
    _log(registry)
    with pytest.raises(InvalidArgument, match="required approvals must be >= 1"):
        gov.protect("churn", "champion", required_approvals=0)
    with pytest.raises(InvalidArgument, match="reserved"):
        gov.protect("churn", "latest")
    with pytest.raises(NotFound, match="model 'nope' does not exist"):
        gov.protect("nope", "champion")
    with pytest.raises(NotFound, match="is not protected"):
        gov.unprotect("churn", "champion")
    with pytest.raises(NotFound, match="model 'churn' has no version 9"):
        gov.approve("churn", 9, actor="bob")
    with pytest.raises(NotFound, match="has no version 9"):
        gov.status("churn", 9)
    with pytest.raises(InvalidArgument, match="needs the name"):
        gov.approve("churn", 1, actor="")


def test_deleting_a_version_or_model_drops_its_governance_rows(
    registry: RegistryService, gov: GovernanceService
) -> None:
    _log(registry)
    _log(registry)
    gov.protect("churn", "champion")
    gov.approve("churn", 1, actor="bob")
    registry.delete_version("churn", 1)
    assert gov.status("churn", 2).approvals == ()
    registry.delete_model("churn")
    _log(registry)  # a new model of the same name starts clean
    assert gov.protected("churn", "champion") is None
    assert gov.status("churn", 1).approvals == ()


def test_concurrent_approvals_both_count(registry: RegistryService, gov: GovernanceService) -> None:
    _log(registry)
    gov.protect("churn", "champion", required_approvals=2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda who: gov.approve("churn", 1, actor=who), ["bob", "carol"]))
    assert sorted(r.status for r in results) == ["approved", "pending"]
    assert gov.status("churn", 1).status == "approved"


# -- CLI ----------------------------------------------------------------------------------------------


def _cli_app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def root(ctx: typer.Context) -> None:
        set_overrides(ctx, None)
        ctx.call_on_close(state(ctx).close)

    app.command("approve")(cli.approve)
    app.command("reject")(cli.reject)
    app.command("approvals")(cli.approvals)
    app.command("card")(cli.card)
    app.add_typer(cli.protect_app, name="protect")
    return app


def test_cli_protect_approve_and_card(tmp_path: Path) -> None:
    me = os_user()  # the local CLI acts as the OS user: the only identity it can verify
    services = build(Settings())
    try:
        _log(services.registry, actor=me)  # a version I created: I may not approve it
        _log(services.registry, actor="alice")
    finally:
        services.close()
    app, runner = _cli_app(), CliRunner()

    done = runner.invoke(app, ["protect", "set", "churn", "champion"])
    assert done.exit_code == 0, done.output
    assert "churn@champion protected: 1 approval(s) required" in done.output
    listed = runner.invoke(app, ["protect", "list", "churn", "--json"])
    assert [(p["alias"], p["required_approvals"]) for p in json.loads(listed.stdout)] == [
        ("champion", 1)
    ]

    refused = runner.invoke(app, ["approve", "churn", "1"])
    assert isinstance(refused.exception, Conflict)
    assert str(refused.exception) == f"{me} created churn/1 and cannot approve their own version"
    unknown = runner.invoke(app, ["--actor", "bob", "approve", "churn", "1"])
    assert unknown.exit_code == 2  # a self-asserted name is no longer an option

    approved = runner.invoke(app, ["approve", "churn", "2", "-m", "ok", "--json"])
    assert approved.exit_code == 0, approved.output
    assert json.loads(approved.stdout)["status"] == "approved"
    shown = runner.invoke(app, ["approvals", "churn", "2"])
    assert f"churn/2: approved (1 of 1 approval(s); by {me})" in shown.output

    markdown = runner.invoke(app, ["card", "churn", "1"])
    assert markdown.exit_code == 0, markdown.output
    assert markdown.stdout.startswith("# Model card: churn/1") and "## Approvals" in markdown.stdout
    target = tmp_path / "out" / "card.html"
    written = runner.invoke(app, ["card", "churn", "1", "-o", str(target)])
    assert written.exit_code == 0, written.output
    assert target.read_text().startswith("<!DOCTYPE html>")
    bad = runner.invoke(app, ["card", "churn", "1", "--format", "pdf"])
    assert isinstance(bad.exception, InvalidArgument)
    missing = runner.invoke(app, ["card", "churn", "7"])
    assert isinstance(missing.exception, NotFound)
