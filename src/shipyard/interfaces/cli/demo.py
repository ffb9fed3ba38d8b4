"""``shipyard demo``: the life of a model so far, end to end, on a fresh temporary home.

Train a scikit-learn pipeline on the breast-cancer data shipped with scikit-learn, package and
register it, point ``@champion`` at it, register a second version and move the alias, load the
champion back through the registry and check its predictions equal the trained model's.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from shipyard.core.errors import ShipyardError
from shipyard.interfaces.cli.output import console, print_table

T = TypeVar("T")


def run_demo(home: Path | None) -> None:
    try:
        from sklearn.datasets import load_breast_cancer
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError as exc:
        from shipyard.core.errors import MissingDependency

        raise MissingDependency("scikit-learn", "sklearn") from exc
    from shipyard.interfaces.sdk import Client

    timings: list[tuple[str, float, str]] = []

    def stage(title: str, fn: Callable[[], T], detail: Callable[[T], str]) -> T:
        start = time.perf_counter()
        with console.status(title):
            result = fn()
        elapsed = time.perf_counter() - start
        timings.append((title, elapsed, detail(result)))
        console.print(
            f"[green]✓[/green] {title} [dim]({elapsed * 1000:.0f} ms)[/dim]  {detail(result)}"
        )
        return result

    workdir = home or Path(tempfile.mkdtemp(prefix="shipyard-demo-"))
    console.rule("[bold]Shipyard demo")
    console.print(f"home: {workdir}")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

    def train_lr() -> Any:
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
            X_train, y_train
        )

    def train_rf() -> Any:
        return RandomForestClassifier(n_estimators=50, random_state=0).fit(X_train, y_train)

    lr = stage(
        "train a logistic regression", train_lr, lambda m: f"accuracy {m.score(X_test, y_test):.3f}"
    )
    client = Client(home=workdir)
    try:
        v1 = stage(
            "package and register it",
            lambda: client.log_model(
                lr,
                name="cancer",
                X_sample=X_train,
                y_sample=y_train,
                metrics={"accuracy": lr.score(X_test, y_test)},
                dataset_name="sklearn breast_cancer",
            ),
            lambda v: f"{v.name}/{v.version} {v.digest[:19]}",
        )
        stage(
            "point @champion at it",
            lambda: client.set_alias("cancer", "champion", v1.version, reason="first model"),
            lambda e: f"@champion -> {e.to_version}",
        )
        rf = stage(
            "train a random forest", train_rf, lambda m: f"accuracy {m.score(X_test, y_test):.3f}"
        )
        v2 = stage(
            "register it as version 2",
            lambda: client.log_model(
                rf,
                name="cancer",
                X_sample=X_train,
                y_sample=y_train,
                metrics={"accuracy": rf.score(X_test, y_test)},
            ),
            lambda v: f"{v.name}/{v.version}",
        )
        stage(
            "move @champion",
            lambda: client.set_alias("cancer", "champion", v2.version, reason="higher accuracy"),
            lambda e: f"@champion {e.from_version} -> {e.to_version}",
        )
        model = stage(
            "load cancer@champion (digests verified)",
            lambda: client.load_model("cancer@champion"),
            lambda m: repr(m),
        )
        preds = stage(
            "predict on the held-out rows",
            lambda: model.predict(X_test),
            lambda p: f"{len(p)} predictions",
        )
        if not np.array_equal(preds, rf.predict(X_test)):
            raise ShipyardError("the loaded champion predicts differently from the trained model")
        history = client.registry.alias_history("cancer", "champion")
    finally:
        client.close()
    console.print()
    print_table(
        "what happened",
        ["stage", "ms", "result"],
        [(t, f"{s * 1000:.0f}", d) for t, s, d in timings],
    )
    console.print(f"alias history: {' -> '.join(str(e.to_version) for e in history)}")
    console.print(f"try: shipyard --home {workdir} models show cancer")
