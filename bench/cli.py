"""CLI start-up benchmark: ``shipyard`` commands next to ``python -c pass`` and ``bentoml --help``.

Each command runs ``--repeats`` times in a fresh interpreter (``subprocess.run``); the table shows the
median and the best wall time and the peak RSS of the child (``ru_maxrss`` of the waited child, via
``os.wait4``). Commands:

- ``python -c pass``: the interpreter's own floor (same Python as ``shipyard``);
- ``shipyard --help``, ``shipyard --version``;
- ``shipyard models list`` and ``shipyard alias set demo champion N`` on a fresh registry home with one
  registered model (made once, before timing, with the SDK);
- ``python -c "import sqlalchemy"``: no goal, for reading the table: the floor of every command
  that opens the registry (the store is SQLAlchemy Core);
- ``bentoml --help`` from the peers' virtualenv: ``--peers-python`` or
  ``SHIPYARD_BENCH_PEERS_PYTHON`` names its interpreter, else ``/work/bench-venvs/bentoml`` is used
  when it exists; ``--with-peers`` creates that venv on first use (``bentoml==1.4.40``; never a
  Shipyard dependency). The table says when bentoml was not measured.

The machine's load average is printed before and after: timings from a loaded machine compare
with each other (one run), not with another machine's.

Goals (PASS/FAIL): each shipyard command within 0.25 s of ``python -c pass`` (median), and faster than
``bentoml --help`` (median) when it was measured.

    PYTHONPATH=src python bench/cli.py [--repeats 7] [--with-peers] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PEERS_VENV = Path("/work/bench-venvs/bentoml")
BENTOML_PIN = "bentoml==1.4.40"
FLOOR_SLACK_S = 0.25


@dataclass
class Timing:
    name: str
    median_s: float
    best_s: float
    rss_mb: float


def _run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {err.strip()[-500:]}")
    if proc.stderr:
        proc.stderr.close()
    return elapsed, usage.ru_maxrss / 1024


def measure(commands: dict[str, list[str]], env: dict[str, str], repeats: int) -> list[Timing]:
    """Every command ``repeats`` times, in rounds (one run of each per round), so a change of the
    machine's load during the bench weighs on every row alike."""
    for argv in commands.values():
        _run_once(argv, env)  # warm the OS file cache
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, argv in commands.items():
            runs[name].append(_run_once(argv, env))
    return [
        Timing(
            name,
            statistics.median(t for t, _ in got),
            min(t for t, _ in got),
            max(r for _, r in got),
        )
        for name, got in runs.items()
    ]


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" ({os.cpu_count()} CPUs)"


def peers_python(args: argparse.Namespace) -> str | None:
    given = args.peers_python or os.environ.get("SHIPYARD_BENCH_PEERS_PYTHON")
    if given:
        return str(given)
    python = PEERS_VENV / "bin" / "python"
    if python.exists():
        return str(python)
    if not args.with_peers:
        return None
    print(f"creating {PEERS_VENV} with {BENTOML_PIN} (first use only)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", BENTOML_PIN], check=True)
    return str(python)


def registry_home(python: str) -> tuple[Path, int]:
    home = Path(tempfile.mkdtemp(prefix="shipyard-bench-cli-"))
    script = (
        "import shipyard\n"
        "from sklearn.datasets import load_iris\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "X, y = load_iris(return_X_y=True, as_frame=True)\n"
        "mv = shipyard.log_model(LogisticRegression(max_iter=500).fit(X, y), name='demo', X_sample=X)\n"
        "print(mv.version)\n"
    )
    env = {**os.environ, "SHIPYARD_HOME": str(home)}
    out = subprocess.run(
        [python, "-c", script], env=env, check=True, capture_output=True, text=True
    )
    return home, int(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--with-peers", action="store_true", help="create the peers' venv if absent"
    )
    parser.add_argument("--peers-python", help="python of a venv with bentoml installed")
    parser.add_argument("--json", help="also write the results as JSON ('-': stdout)")
    args = parser.parse_args()

    python = sys.executable
    shipyard_cli = str(Path(python).with_name("shipyard"))
    home, version = registry_home(python)
    try:
        return _bench(args, python, shipyard_cli, home, version)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _bench(
    args: argparse.Namespace, python: str, shipyard_cli: str, home: Path, version: int
) -> int:
    env = {**os.environ, "SHIPYARD_HOME": str(home)}
    print(f"load average before: {_load()}")
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "import sqlalchemy": [python, "-c", "import sqlalchemy"],
        "shipyard --help": [shipyard_cli, "--help"],
        "shipyard --version": [shipyard_cli, "--version"],
        "shipyard models list": [shipyard_cli, "models", "list"],
        "shipyard alias set": [shipyard_cli, "alias", "set", "demo", "champion", str(version)],
    }
    peers = peers_python(args)
    if peers:
        commands["bentoml --help"] = [str(Path(peers).with_name("bentoml")), "--help"]
    rows = measure(commands, env, args.repeats)
    by_name = {row.name: row for row in rows}
    floor = by_name["python -c pass"]
    ours = [row for row in rows if row.name.startswith("shipyard ")]
    bento = by_name.get("bentoml --help")

    print(f"{'command':<24} {'median s':>9} {'best s':>8} {'- floor':>8} {'RSS MB':>7}  goal")
    verdicts: list[bool] = []
    for row in rows:
        goal = ""
        if row in ours:
            ok = row.median_s <= floor.median_s + FLOOR_SLACK_S
            goal = f"{'PASS' if ok else 'FAIL'} ≤ floor+{FLOOR_SLACK_S:.2f}s"
            verdicts.append(ok)
            if bento is not None:
                faster = row.median_s < bento.median_s
                goal += f", {'PASS' if faster else 'FAIL'} < bentoml ({row.median_s / bento.median_s:.2f}×)"
                verdicts.append(faster)
        over = row.median_s - floor.median_s
        print(
            f"{row.name:<24} {row.median_s:>9.3f} {row.best_s:>8.3f} {over:>+8.3f} "
            f"{row.rss_mb:>7.0f}  {goal}"
        )
    if bento is None:
        print(
            f"bentoml not measured: no {PEERS_VENV}; pass --with-peers to create it once, or "
            "--peers-python / SHIPYARD_BENCH_PEERS_PYTHON to use another venv"
        )
    print(f"load average after: {_load()}")
    if args.json:
        payload = json.dumps([row.__dict__ for row in rows], indent=2)
        if args.json == "-":
            print(payload)
        else:
            Path(args.json).write_text(payload + "\n")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
