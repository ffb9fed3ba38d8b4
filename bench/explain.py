"""Explanation benchmark: ``Model.explain`` next to calling ``shap`` directly, in one run.

Models, on scikit-learn's breast-cancer data (30 float columns): ``rf`` a 100-tree
RandomForestClassifier, ``xgb`` an XGBClassifier (100 trees, depth 4), ``lr`` a StandardScaler +
LogisticRegression pipeline. Each is packaged with ``shipyard.package.save`` and loaded back, so
the timed path is exactly what a server runs: ``Model.explain_validated(frame)`` (the flavor's
exact method, folding onto input columns, choosing the explained class, each row's prediction).
Input is validated once outside the timing, as in the server.

The direct shap baseline runs the same method on the same loaded estimator object, with its
explainer built once outside the timing (Shipyard caches its explainer too):
``shap.TreeExplainer(rf).shap_values`` for the forest, ``shap.TreeExplainer(xgb).shap_values`` for
XGBoost (shap calls xgboost's ``pred_contribs`` for it; Shipyard calls it directly), and
``shap.LinearExplainer(lr, background)`` on the scaled rows for the pipeline (the scaler's
``transform`` is in the shap timing, as Shipyard must do it too). Shipyard's answer carries each
row's prediction as well, equal to what the predict route answers, so the goal compares it with
"shap values + the served model's predict"; the table shows shap's values alone too.

How it is timed, so that one run on a shared 2-core machine gives a usable ratio:

- the process is pinned to one CPU (``--cpu``, default the last one it may use) with BLAS/OpenMP
  pools of one thread, so neither side gains from threads the other does not use;
- time is the process's CPU time (``time.process_time``): other processes on the machine delay a
  measurement but do not lengthen it;
- the sides are interleaved: each of ``--rounds`` rounds times every side once, in an order that
  rotates, so a slow patch of the machine hits all of them; a sample repeats a call until it
  lasts at least 20 ms (single rows take well under a millisecond);
- three warm-up calls per side first; the ratio is the median over rounds of the per-round ratio.

Goals: Shipyard no slower than shap + predict for the same method (ratio <= 1.0), and the
forest's single-row explain within 5x of its single-row predict (also interleaved). Each ratio
comes with a distribution-free 95 % confidence interval of its median; the verdict is PASS when
the median meets the goal, EVEN when it misses by less than the noise (the interval contains the
goal), FAIL when the whole interval misses. The load average before and after is printed with
the tables.

    PYTHONPATH=src python bench/explain.py              # ~2 min
    PYTHONPATH=src python bench/explain.py --rounds 7   # quicker
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

MIN_SAMPLE_S = 0.02
WARMUP = 3


def pin(cpu: int | None) -> int:
    """Pin to one CPU and one-thread pools (before numpy is imported, so pools start that size)."""
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[-1] if cpu is None else cpu
    os.sched_setaffinity(0, {chosen})
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    return chosen


def interleaved(sides: Sequence[Callable[[], Any]], rounds: int) -> list[list[float]]:
    """CPU seconds per call of each side, one sample per side per round, order rotating."""
    for fn in sides:
        for _ in range(WARMUP):
            fn()
    calls = []
    for fn in sides:  # calls per sample: enough that a sample lasts MIN_SAMPLE_S
        start = time.process_time()
        fn()
        once = max(time.process_time() - start, 1e-5)
        calls.append(max(1, int(MIN_SAMPLE_S / once) + 1))
    samples: list[list[float]] = [[] for _ in sides]
    for r in range(rounds):
        order = [(r + k) % len(sides) for k in range(len(sides))]
        for i in order:
            fn, n = sides[i], calls[i]
            start = time.process_time()
            for _ in range(n):
                fn()
            samples[i].append((time.process_time() - start) / n)
    return samples


def ratio_ci(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Median of the per-round ratios a/b and its distribution-free ~95 % confidence interval
    (order statistics of the sign test: no assumption on how the ratios are distributed)."""
    ratios = sorted(x / y for x, y in zip(a, b, strict=True))
    n, k = len(ratios), 0
    while k + 1 <= n // 2 and 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n <= 0.05:
        k += 1
    return statistics.median(ratios), ratios[max(k - 1, 0)], ratios[n - max(k, 1)]


def verdict(median: float, low: float, goal: float) -> str:
    """PASS: the median meets the goal; EVEN: it misses it by less than the noise (the interval
    contains the goal); FAIL: the whole interval misses it."""
    if median <= goal:
        return "PASS"
    return "EVEN" if low <= goal else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the last)")
    args = parser.parse_args()
    cpu = pin(args.cpu)
    load_before = os.getloadavg()

    import numpy as np
    import pandas as pd
    import shap
    import xgboost as xgb
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import shipyard.package as pkg

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    one = X.head(1)
    many = X.sample(1000, replace=True, random_state=0).reset_index(drop=True)
    fitted = {
        "rf": RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1).fit(X, y),
        "xgb": xgb.XGBClassifier(n_estimators=100, max_depth=4, random_state=0, n_jobs=1).fit(X, y),
        "lr": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y),
    }
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        loaded = {}
        for name, estimator in fitted.items():
            pkg.save(estimator, Path(tmp) / name, X_sample=X, y_sample=y)
            loaded[name] = pkg.load(Path(tmp) / name)
        for name, model in loaded.items():
            same = model.predictor.model  # type: ignore[attr-defined]  # the loaded estimator
            if name == "lr":
                scaler, linear = same[0], same[-1]
                explainer = shap.LinearExplainer(linear, scaler.transform(model.background))

                def direct(frame: pd.DataFrame, e: Any = explainer, s: Any = scaler) -> Any:
                    return e.shap_values(s.transform(frame))

                method = "linear"
            else:
                if name == "xgb":
                    same.set_params(n_jobs=1)
                tree = shap.TreeExplainer(same)

                def direct(frame: pd.DataFrame, e: Any = tree) -> Any:
                    return e.shap_values(frame, check_additivity=False)

                method = "tree_shap"
            for label, frame in (("1 row", one), ("1000 rows", many)):
                valid = model.validate(frame)
                served = model.predictor.predict  # the predict the server answers with
                ours, values, both = interleaved(
                    [
                        lambda m=model, v=valid: m.explain_validated(v),
                        lambda d=direct, f=frame: d(f),
                        lambda d=direct, f=frame, v=valid, p=served: (d(f), p(v)),
                    ],
                    args.rounds,
                )
                rows.append(
                    {
                        "model": name,
                        "method": method,
                        "rows": label,
                        "shipyard_ms": statistics.median(ours) * 1e3,
                        "shap_ms": statistics.median(values) * 1e3,
                        "shap_predict_ms": statistics.median(both) * 1e3,
                        "ratio_values": ratio_ci(ours, values)[0],
                        "ratio": ratio_ci(ours, both),
                    }
                )
        rf = loaded["rf"]
        valid_one = rf.validate(one)
        explain, predict = interleaved(
            [lambda: rf.explain_validated(valid_one), lambda: rf.predictor.predict(valid_one)],
            args.rounds,
        )
        check = np.abs(
            rf.explain(many.head(50)).outputs - fitted["rf"].predict_proba(many.head(50))[:, 1]
        )

    load_after = os.getloadavg()
    print(
        f"shap {shap.__version__}, xgboost {xgb.__version__}; pinned to CPU {cpu}; CPU time per "
        f"call, median of {args.rounds} interleaved rounds; ratio = median of per-round ratios"
    )
    print(
        f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
        f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} "
        f"({os.cpu_count()} CPUs)\n"
    )
    print(
        "| model | method | rows | shipyard ms | shap values ms | shap values + predict ms "
        "| shipyard / shap values | shipyard / (shap + predict) [95% CI] | goal <= 1.0 |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        median, low, high = r["ratio"]
        print(
            f"| {r['model']} | {r['method']} | {r['rows']} | {r['shipyard_ms']:.3f} | "
            f"{r['shap_ms']:.3f} | {r['shap_predict_ms']:.3f} | {r['ratio_values']:.2f} | "
            f"{median:.2f} [{low:.2f}, {high:.2f}] | {verdict(median, low, 1.0)} |"
        )
    median, low, high = ratio_ci(explain, predict)
    print(
        f"\nrf 1 row: predict {statistics.median(predict) * 1e3:.3f} ms, explain "
        f"{statistics.median(explain) * 1e3:.3f} ms, explain/predict {median:.2f} "
        f"[{low:.2f}, {high:.2f}] (goal <= 5): {verdict(median, low, 5.0)}"
    )
    print(f"additivity on 50 rows (rf, probability): max |base + sum - output| = {check.max():.1e}")


if __name__ == "__main__":
    main()
