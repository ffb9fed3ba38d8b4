"""The RegistryStore contract, run against SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from shipyard.core.errors import Conflict, InvalidArgument, NotFound
from shipyard.registry.entities import NewVersion
from shipyard.registry.sql.store import SqlRegistryStore


def new(digest: str = "sha256:" + "a" * 64, **kw: object) -> NewVersion:
    return NewVersion(
        digest=digest, manifest_blob="sha256/aa/" + "a" * 64, flavor="sklearn", size_bytes=10, **kw
    )  # type: ignore[arg-type]


def test_versions_are_numbered_from_one(store: SqlRegistryStore) -> None:
    v1 = store.create_version("churn", new(), actor="ana")
    v2 = store.create_version("churn", new(metrics={"auc": 0.9}), actor="bob")
    other = store.create_version("fraud", new(), actor="ana")
    assert (v1.version, v2.version, other.version) == (1, 2, 1)
    assert v2.metrics == {"auc": 0.9} and v2.created_by == "bob"
    model = store.get_model("churn")
    assert model.latest_version == 2
    assert store.latest_version("churn").version == 2


def test_version_numbers_are_not_reused_after_delete(store: SqlRegistryStore) -> None:
    store.create_version("m", new(), actor="a")
    store.create_version("m", new(), actor="a")
    store.delete_version("m", 2, actor="a")
    assert store.create_version("m", new(), actor="a").version == 3


def test_missing_things_are_not_found(store: SqlRegistryStore) -> None:
    with pytest.raises(NotFound, match="model 'nope' does not exist"):
        store.get_model("nope")
    store.create_version("m", new(), actor="a")
    with pytest.raises(NotFound, match="model 'm' has no version 9"):
        store.get_version("m", 9)
    with pytest.raises(NotFound, match="has no alias @champion"):
        store.get_alias("m", "champion")
    with pytest.raises(NotFound, match="model 'nope' does not exist"):
        store.set_alias("nope", "champion", 1, actor="a")


def test_alias_moves_are_events_and_answer_what_served_when(store: SqlRegistryStore) -> None:
    for _ in range(3):
        store.create_version("churn", new(), actor="a")
    before = dt.datetime.now(dt.UTC)
    time.sleep(0.01)
    e1 = store.set_alias("churn", "champion", 1, actor="ana", reason="first")
    time.sleep(0.01)
    t_mid = dt.datetime.now(dt.UTC)
    time.sleep(0.01)
    e2 = store.set_alias("churn", "champion", 3, actor="bob", reason="better auc")
    assert (e1.from_version, e1.to_version) == (None, 1)
    assert (e2.from_version, e2.to_version, e2.actor, e2.reason) == (1, 3, "bob", "better auc")
    assert store.get_alias("churn", "champion").version == 3
    assert store.alias_at("churn", "champion", before) is None
    assert store.alias_at("churn", "champion", t_mid) == 1
    assert store.alias_at("churn", "champion", dt.datetime.now(dt.UTC)) == 3
    gone = store.delete_alias("churn", "champion", actor="ana", reason="retired")
    assert (gone.from_version, gone.to_version) == (3, None)
    history = store.alias_history("churn", "champion")
    assert [(h.from_version, h.to_version) for h in history] == [(None, 1), (1, 3), (3, None)]
    assert store.alias_at("churn", "champion", dt.datetime.now(dt.UTC)) is None
    assert store.get_model("churn").aliases == {}


def test_deleting_an_aliased_version_is_refused(store: SqlRegistryStore) -> None:
    store.create_version("churn", new(), actor="a")
    store.set_alias("churn", "champion", 1, actor="a")
    with pytest.raises(Conflict, match=r"cannot delete churn/1: alias @champion points to it"):
        store.delete_version("churn", 1, actor="a")
    with pytest.raises(Conflict, match="still has aliases"):
        store.delete_model("churn", actor="a")
    assert store.get_version("churn", 1).aliases == ("champion",)


def test_delete_model_removes_versions_and_tags(store: SqlRegistryStore) -> None:
    store.create_version("churn", new(tags={"team": "x"}), actor="a")
    store.set_tag("churn", None, "owner", "ana", actor="a")
    store.delete_model("churn", actor="a")
    with pytest.raises(NotFound):
        store.get_model("churn")
    assert store.list_versions(prefix="churn") == []


def test_tags_and_search(store: SqlRegistryStore) -> None:
    store.create_version("churn-eu", new(tags={"stage": "dev"}), actor="a")
    store.create_version("churn-us", new(), actor="a")
    store.create_version("fraud", new(), actor="a")
    store.set_tag("churn-us", 1, "stage", "prod", actor="a")
    store.set_tag("churn-us", 1, "stage", "staging", actor="a")  # upsert
    store.set_tag("fraud", None, "team", "risk", actor="a")
    assert [m.name for m in store.list_models(prefix="churn")] == ["churn-eu", "churn-us"]
    assert [m.name for m in store.list_models(tags={"team": "risk"})] == ["fraud"]
    found = store.list_versions(tags={"stage": "staging"})
    assert [(v.name, v.version) for v in found] == [("churn-us", 1)]
    assert store.get_version("churn-us", 1).tags == {"stage": "staging"}
    store.delete_tag("churn-us", 1, "stage", actor="a")
    assert store.get_version("churn-us", 1).tags == {}
    with pytest.raises(NotFound, match="has no tag 'stage'"):
        store.delete_tag("churn-us", 1, "stage", actor="a")
    # prefix search treats % and _ literally
    assert store.list_models(prefix="churn%") == []


def test_descriptions(store: SqlRegistryStore) -> None:
    store.create_version("m", new(description="v1 desc"), actor="a")
    store.set_model_description("m", "the model", actor="a")
    store.set_version_description("m", 1, "better", actor="a")
    assert store.get_model("m").description == "the model"
    assert store.get_version("m", 1).description == "better"


def test_every_mutation_is_audited(store: SqlRegistryStore) -> None:
    r0 = store.revision()
    store.create_version("m", new(), actor="ana")
    store.set_alias("m", "champion", 1, actor="bob", reason="go")
    store.set_tag("m", 1, "k", "v", actor="cy")
    store.delete_tag("m", 1, "k", actor="cy")
    store.set_model_description("m", "d", actor="ana")
    store.delete_alias("m", "champion", actor="bob")
    store.delete_version("m", 1, actor="ana")
    events = store.list_audit(limit=50)
    assert [e.action for e in reversed(events)] == [
        "version.create",
        "alias.set",
        "tag.set",
        "tag.delete",
        "model.describe",
        "alias.delete",
        "version.delete",
    ]
    assert events[-2].actor == "bob" and events[-2].details["reason"] == "go"
    assert store.revision() == r0 + 7
    assert [e.action for e in store.list_audit(action="alias")] == ["alias.delete", "alias.set"]
    assert {e.target for e in store.list_audit(target="m")} == {"m", "m/1", "m@champion"}


def test_failed_mutation_leaves_no_trace(store: SqlRegistryStore) -> None:
    store.create_version("m", new(), actor="a")
    before = store.revision()
    with pytest.raises(NotFound):
        store.set_alias("m", "champion", 5, actor="a")
    with pytest.raises(InvalidArgument):
        store.set_tag("m", None, "", "v", actor="a")
    assert store.revision() == before
    assert store.alias_history("m", "champion") == []


def test_change_feed_wakes_on_commit_where_the_database_notifies(store: SqlRegistryStore) -> None:
    store.create_version("m", new(), actor="a")
    feed = store.change_feed()
    try:
        if not feed.notifies:  # SQLite: the follower polls revision() instead
            assert store.engine.dialect.name == "sqlite"
            before = store.revision()
            store.set_alias("m", "champion", 1, actor="a")
            assert store.revision() > before
            return
        assert not feed.wait(0.05)  # nothing changed yet
        with pytest.raises(NotFound):  # a refused change notifies nobody
            store.set_alias("m", "champion", 7, actor="a")
        assert not feed.wait(0.05)
        store.set_alias("m", "champion", 1, actor="a")
        started = time.monotonic()
        assert feed.wait(10.0)  # delivered at commit
        assert time.monotonic() - started < 1.0
    finally:
        feed.close()
