"""Soak test of ``shipyard demo``: run it N times, each in a subprocess on a fresh temporary home.

    python bench/demo_soak.py --runs 20            # the machine as it is
    python bench/demo_soak.py --runs 20 --busy     # plus one busy-loop process keeping a core loaded

Each run is ``python -m shipyard.interfaces.cli.main demo --home <fresh tmp dir>`` with a timeout;
a run passes when it exits 0. ``--busy`` starts a pure-Python busy loop in a separate process for
the whole soak (killed at the end, also on Ctrl-C), so every run competes with it for a core. The
report gives passes and failures, wall-time min / median / max of the runs, the one-minute load
average before and after, and for each failure its exit code and the tail of its output. The exit
code is 1 if any run failed, 0 otherwise. Homes of passing runs are deleted; failing ones are kept
and printed for a post-mortem (their ``server.log`` and audit log).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BUSY_LOOP = "while True: pass"


@dataclass
class Run:
    index: int
    seconds: float
    returncode: int
    output: str
    home: Path

    @property
    def passed(self) -> bool:
        return self.returncode == 0


def run_once(index: int, timeout: float) -> Run:
    home = Path(tempfile.mkdtemp(prefix=f"shipyard-soak-{index:02d}-"))
    started = time.perf_counter()
    # its own session, so a timeout kills the demo and everything it started (its server)
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipyard.interfaces.cli.main", "demo", "--home", str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate()
        code = -1
        output = f"timed out after {timeout:g} s\n" + (rest or "")
    took = time.perf_counter() - started
    if code == 0:
        shutil.rmtree(home, ignore_errors=True)
    else:  # kept for a post-mortem, even if the soak itself is stopped before its report
        (home / "demo-output.txt").write_text(output, encoding="utf-8")
    return Run(index, took, code, output, home)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="how many demo runs (default 20)")
    parser.add_argument("--busy", action="store_true", help="keep one core busy meanwhile")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run (default 600)")
    parser.add_argument("--tail", type=int, default=40, help="output lines shown per failure")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` stops the busy loop
    busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if args.busy else None
    load_before = os.getloadavg()[0]
    runs: list[Run] = []
    try:
        for i in range(1, args.runs + 1):
            run = run_once(i, args.timeout)
            runs.append(run)
            verdict = "pass" if run.passed else f"FAIL (exit {run.returncode}), home {run.home}"
            print(f"run {i:2d}/{args.runs}: {verdict} in {run.seconds:5.1f} s", flush=True)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    load_after = os.getloadavg()[0]

    failed = [r for r in runs if not r.passed]
    times = [r.seconds for r in runs]
    print()
    print(
        f"demo soak ({'--busy' if args.busy else 'as is'}): {len(runs) - len(failed)}/{len(runs)} "
        f"passed; seconds min {min(times):.1f} / median {statistics.median(times):.1f} / "
        f"max {max(times):.1f}; load average {load_before:.1f} before, {load_after:.1f} after "
        f"({os.cpu_count()} cores)"
    )
    for r in failed:
        print(f"\n--- run {r.index} failed (exit {r.returncode}); home kept: {r.home}")
        print("\n".join(r.output.rstrip().splitlines()[-args.tail :]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
