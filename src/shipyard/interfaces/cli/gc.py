"""``shipyard gc``: remove unreferenced blobs, crashed writes' leftovers and stale package cache."""

from __future__ import annotations

import typer

from shipyard.core.durations import parse_duration
from shipyard.interfaces.cli.context import services
from shipyard.interfaces.cli.output import console, emit, print_table


def gc(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would go; remove nothing."),
    grace: str = typer.Option(
        "1h", "--grace", help="Only remove what is older than this (e.g. 30m, 1h, 2d)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Remove blobs no version references, temporary files of crashed writes, stale cache."""
    report = (
        services(ctx).garbage_collector().collect(parse_duration(grace, "--grace"), dry_run=dry_run)
    )
    doc = report.to_dict()

    def render() -> None:
        verb = "would remove" if dry_run else "removed"
        print_table(
            f"gc: {verb}",
            ["what", "count"],
            [
                ["unreferenced blobs", f"{doc['blobs']} ({doc['blob_bytes']} bytes)"],
                ["temporary files", doc["temporary_files"]],
                ["package cache entries", doc["cache_entries"]],
            ],
        )
        if report.kept:
            console.print(f"{len(report.kept)} blob(s) kept: a registration reused them meanwhile")

    emit(doc, as_json, render)
