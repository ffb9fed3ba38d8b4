"""Races between real processes on one registry, on SQLite and PostgreSQL.

Each test starts six processes, lets each open its own store, then releases them together from a
barrier so their writes really overlap. The outcomes must be those of some serial order.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import traceback
from collections.abc import Callable
from itertools import pairwise
from typing import Any

from shipyard.core.errors import Conflict
from shipyard.registry.deployments import DeploymentSpec
from shipyard.registry.entities import NewVersion
from shipyard.registry.sql.deployments import SqlDeploymentStore
from shipyard.registry.sql.store import SqlRegistryStore

PROCESSES = 6
MOVES = 180
VERSIONS = 7
ONE_US = dt.timedelta(microseconds=1)

Outcome = tuple[str, Any]


def _new(i: int) -> NewVersion:
    return NewVersion(
        digest=f"sha256:{i:064d}", manifest_blob="sha256/00/x", flavor="python", size_bytes=1
    )


def _worker(
    job: Callable[[SqlRegistryStore, int], Any],
    url: str,
    worker: int,
    barrier: Any,
    out: Any,
) -> None:
    try:
        store = SqlRegistryStore(url)
        store.revision()  # connected before the start line
        barrier.wait(timeout=120)
        try:
            out.put((worker, "ok", job(store, worker)))
        except Conflict as exc:
            out.put((worker, "conflict", (str(exc), exc.current_revision)))
        finally:
            store.close()
    except Exception:  # anything else is a failure the parent reports
        out.put((worker, "error", traceback.format_exc()))


def race(url: str, job: Callable[[SqlRegistryStore, int], Any]) -> list[Outcome]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(job, url, w, barrier, out)) for w in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    results = sorted(out.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    errors = [r for _, status, r in results if status == "error"]
    assert errors == [], "\n".join(errors)
    return [(status, r) for _, status, r in results]


# -- alias moves ------------------------------------------------------------------------------------


def _move_alias(store: SqlRegistryStore, worker: int) -> int:
    per = MOVES // PROCESSES
    for i in range(per):
        store.set_alias("race", "champion", 1 + (worker * per + i) % VERSIONS, actor=f"w{worker}")
    return per


def test_concurrent_alias_moves_keep_an_exact_history(database_url: str) -> None:
    store = SqlRegistryStore(database_url)
    for i in range(VERSIONS):
        store.create_version("race", _new(i), actor="setup")
    outcomes = race(database_url, _move_alias)
    assert [s for s, _ in outcomes] == ["ok"] * PROCESSES

    history = store.alias_history("race", "champion")
    assert len(history) == MOVES
    wrong_from = [
        (e.id, e.from_version, prev.to_version)
        for prev, e in pairwise(history)
        if e.from_version != prev.to_version
    ]
    assert history[0].from_version is None and wrong_from == []
    assert all(a.at < b.at for a, b in pairwise(history))
    # `alias show --at T`: at each event's time the alias points to its target, a microsecond
    # before to the one it came from.
    wrong_at = [
        e.id
        for e in history
        if store.alias_at("race", "champion", e.at) != e.to_version
        or store.alias_at("race", "champion", e.at - ONE_US) != e.from_version
    ]
    assert wrong_at == []
    assert store.get_alias("race", "champion").version == history[-1].to_version
    store.close()


# -- deployment compare-and-set -------------------------------------------------------------------


def _set_deployment(store: SqlRegistryStore, worker: int) -> int:
    deployments = SqlDeploymentStore(store)
    spec = DeploymentSpec.single(f"race/{worker + 1}")
    return deployments.put("web", spec, actor=f"w{worker}", expected_revision=1).revision


def test_concurrent_deployment_updates_have_one_winner(database_url: str) -> None:
    store = SqlRegistryStore(database_url)
    deployments = SqlDeploymentStore(store)
    deployments.put("web", DeploymentSpec.single("race/9"), actor="setup")
    outcomes = race(database_url, _set_deployment)
    winners = [r for s, r in outcomes if s == "ok"]
    losers = [r for s, r in outcomes if s == "conflict"]
    assert winners == [2] and len(losers) == PROCESSES - 1
    assert all(revision == 2 and "not 1" in message for message, revision in losers)
    assert [e.revision for e in deployments.history("web")] == [1, 2]
    store.close()


# -- rollout starts -------------------------------------------------------------------------------


def _start_rollout(store: SqlRegistryStore, worker: int) -> int:
    deployments = SqlDeploymentStore(store)
    return deployments.create_rollout(
        "web",
        "running",
        {"worker": worker},
        actor=f"w{worker}",
        spec=DeploymentSpec.single(f"race/{worker + 1}"),
        event={"worker": worker},
    ).id


def test_concurrent_rollout_starts_leave_one_active(database_url: str) -> None:
    store = SqlRegistryStore(database_url)
    deployments = SqlDeploymentStore(store)
    deployments.put("web", DeploymentSpec.single("race/9"), actor="setup")
    outcomes = race(database_url, _start_rollout)
    winners = [r for s, r in outcomes if s == "ok"]
    losers = [r for s, r in outcomes if s == "conflict"]
    assert len(winners) == 1 and len(losers) == PROCESSES - 1
    assert all("already has an active rollout" in message for message, _ in losers)
    active = deployments.rollouts(deployment="web", active=True)
    assert [r.id for r in active] == winners
    assert len(deployments.rollouts(deployment="web")) == 1
    assert [e.revision for e in deployments.history("web")] == [1, 2]  # routes changed once
    store.close()


# -- event times --------------------------------------------------------------------------------

WRITES = 20


def _mixed_writes(store: SqlRegistryStore, worker: int) -> int:
    deployments = SqlDeploymentStore(store)
    for i in range(WRITES):
        version = store.create_version("race", _new(worker * WRITES + i), actor=f"w{worker}")
        store.set_tag("race", version.version, "by", f"w{worker}", actor=f"w{worker}")
        deployments.put("web", DeploymentSpec.single(version.ref), actor=f"w{worker}")
    return WRITES


def test_concurrent_writes_take_their_times_in_commit_order(database_url: str) -> None:
    store = SqlRegistryStore(database_url)
    outcomes = race(database_url, _mixed_writes)
    assert [s for s, _ in outcomes] == ["ok"] * PROCESSES
    total = PROCESSES * WRITES
    # version numbers and deployment revisions are allocated in commit order: so are their times
    versions = sorted(store.list_versions(name="race"), key=lambda v: v.version)
    assert len(versions) == total
    assert all(a.created_at < b.created_at for a, b in pairwise(versions))
    history = SqlDeploymentStore(store).history("web")
    assert [e.revision for e in history] == list(range(1, total + 1))
    assert all(a.at < b.at for a, b in pairwise(history))
    # and the audit log, in chain order, never goes back in time
    events = sorted(store.list_audit(limit=10 * total), key=lambda e: e.id)
    assert len(events) == 3 * total
    assert all(a.at < b.at for a, b in pairwise(events))
    store.close()
