"""8 processes registering 25 versions each of the same model: 200 distinct, gap-free versions,
and an audit chain with no fork."""

from __future__ import annotations

import multiprocessing as mp

from shipyard.registry.entities import NewVersion
from shipyard.registry.sql.store import SqlRegistryStore

PROCESSES = 8
PER_PROCESS = 25


def _register_many(url: str, worker: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        store = SqlRegistryStore(url)
        got = []
        for i in range(PER_PROCESS):
            v = store.create_version(
                "race",
                NewVersion(
                    digest=f"sha256:{worker:02d}{i:062d}",
                    manifest_blob="sha256/00/x",
                    flavor="python",
                    size_bytes=1,
                ),
                actor=f"worker-{worker}",
            )
            got.append(v.version)
        store.close()
        out.put(("ok", got))
    except Exception as exc:  # reported to the parent, which fails the test
        out.put(("error", repr(exc)))


def test_concurrent_registration_is_gap_free(database_url: str) -> None:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_register_many, args=(database_url, w, out)) for w in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    errors = [r for status, r in results if status == "error"]
    assert errors == []
    versions = sorted(v for _, got in results for v in got)
    assert versions == list(range(1, PROCESSES * PER_PROCESS + 1))
    store = SqlRegistryStore(database_url)
    listed = store.list_versions(name="race", limit=1000)
    assert sorted(v.version for v in listed) == versions
    assert len({v.digest for v in listed}) == PROCESSES * PER_PROCESS
    chain = store.verify_audit()  # concurrent writers never chained onto the same predecessor
    assert chain.ok, chain.problem
    assert chain.checked == PROCESSES * PER_PROCESS and chain.head_id == store.revision()
    store.close()
