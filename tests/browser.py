"""Debian's Chromium for the browser tests (Playwright's own download is not available here)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import ModuleType

import pytest

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--headless=new",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def chromium() -> tuple[ModuleType, Path]:
    """Playwright's sync API and the Chromium binary; skipped where missing, unless in CI."""
    try:
        from playwright import sync_api
    except ImportError:
        sync_api = None  # type: ignore[assignment]
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found is None or sync_api is None:
        missing = "chromium (Debian's package)" if found is None else "the playwright package"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} is required in CI for the browser tests")
        pytest.skip(f"{missing} is not installed")
    return sync_api, Path(found)
