"""Explanation benchmark: ``Model.explain`` next to calling ``shap`` directly, in one run.

Models, on scikit-learn's breast-cancer data (30 float columns): ``rf`` a 100-tree
RandomForestClassifier, ``xgb`` an XGBClassifier (100 trees, depth 4), ``lr`` a StandardScaler +
LogisticRegression pipeline. Each is packaged with ``shipyard.package.save`` and loaded back, so
the timed path is exactly what a server runs: ``Model.explain(frame)`` (validation, the flavor's
exact method, folding onto input columns, choosing the explained class).

The direct shap baseline does the same method on the same model, with its explainer built once
outside the timing (Shipyard caches its explainer too): ``shap.TreeExplainer(rf).shap_values``
for the forest, ``shap.TreeExplainer(xgb).shap_values`` for XGBoost (Shipyard uses xgboost's own
``pred_contribs``, also exact TreeSHAP), and ``shap.LinearExplainer(lr, background)`` on the
scaled rows for the pipeline (the scaler's ``transform`` is included in the shap timing, as
Shipyard must do it too).

Shipyard's answer carries each row's prediction as well (the loaded model's own ``predict``, so it
equals what the predict route answers), so the comparable baseline is "shap values + that same
predict"; the table
shows shap's values alone too. Input is validated once outside the timing, as in the server
(``Model.explain_validated``).

Timed: 1 row and 1 000 rows (drawn with replacement, seed 0); median of ``--repeat`` runs after a
warm-up. Also the forest's own ``predict`` of one row (what a server answers), for the goal
"single-row TreeSHAP for the forest within 5x of its predict".

Goals (PASS/FAIL): Shipyard no slower than shap for the same method (ratio <= 1.10, timing noise
allowed), and rf single-row explain <= 5 x rf single-row predict.

    PYTHONPATH=src python bench/explain.py            # ~1 min
    PYTHONPATH=src python bench/explain.py --repeat 5 # quicker
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def timed(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

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
    models = {
        "rf": RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1).fit(X, y),
        "xgb": xgb.XGBClassifier(n_estimators=100, max_depth=4, random_state=0, n_jobs=1).fit(X, y),
        "lr": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y),
    }
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, fitted in models.items():
            pkg.save(fitted, Path(tmp) / name, X_sample=X, y_sample=y)
            model = pkg.load(Path(tmp) / name)
            if name == "lr":
                scaler, linear = fitted[0], fitted[-1]
                background = scaler.transform(model.background)
                explainer = shap.LinearExplainer(linear, background)

                def direct(frame: pd.DataFrame, e: Any = explainer, s: Any = scaler) -> Any:
                    return e.shap_values(s.transform(frame))

                method = "linear"
            else:
                tree = shap.TreeExplainer(fitted)

                def direct(frame: pd.DataFrame, e: Any = tree) -> Any:
                    return e.shap_values(frame, check_additivity=False)

                method = "tree_shap"
            for label, frame in (("1 row", one), ("1000 rows", many)):
                valid = model.validate(frame)
                ours = timed(lambda m=model, f=valid: m.explain_validated(f), args.repeat)
                theirs = timed(lambda d=direct, f=frame: d(f), args.repeat)
                served = model.predictor.predict  # the predict the server answers with
                both = timed(lambda d=direct, f=frame, v=valid, p=served: (d(f), p(v)), args.repeat)
                rows.append(
                    {
                        "model": name,
                        "method": method,
                        "rows": label,
                        "shipyard_ms": ours * 1e3,
                        "shap_ms": theirs * 1e3,
                        "shap_predict_ms": both * 1e3,
                        "ratio": ours / both,
                    }
                )
        rf_model = pkg.load(Path(tmp) / "rf")
        valid_one = rf_model.validate(one)
        predict = timed(lambda: rf_model.predictor.predict(valid_one), args.repeat)
        explain = timed(lambda: rf_model.explain_validated(valid_one), args.repeat)

    print(f"shap {shap.__version__}, xgboost {xgb.__version__}; median of {args.repeat} runs\n")
    print(
        "| model | method | rows | shipyard ms | shap values ms | shap values + predict ms "
        "| shipyard / (shap + predict) | goal <= 1.10 |"
    )
    print("|---|---|---|---:|---:|---:|---:|---|")
    for r in rows:
        verdict = "PASS" if r["ratio"] <= 1.10 else "FAIL"
        print(
            f"| {r['model']} | {r['method']} | {r['rows']} | {r['shipyard_ms']:.2f} | "
            f"{r['shap_ms']:.2f} | {r['shap_predict_ms']:.2f} | {r['ratio']:.2f} | {verdict} |"
        )
    ratio = explain / predict
    print(
        f"\nrf 1 row: predict {predict * 1e3:.2f} ms, explain {explain * 1e3:.2f} ms, "
        f"explain/predict {ratio:.2f} (goal <= 5): {'PASS' if ratio <= 5 else 'FAIL'}"
    )
    check = np.abs(
        rf_model.explain(many.head(50)).outputs - models["rf"].predict_proba(many.head(50))[:, 1]
    )
    print(f"additivity on 50 rows (rf, probability): max |base + sum - output| = {check.max():.1e}")


if __name__ == "__main__":
    main()
