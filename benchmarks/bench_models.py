"""Models benchmark: predict overhead, load time, registry operations, audit verification.

Sections (``--sections predict,load,registry,audit``):

- predict: ``sp.load_model(...).predict`` vs the framework model's own ``predict`` on 10,000
  rows (pandas input), per flavor. Bar: within 5 %.
- load: loading a ~50 MB model through the registry (hashes verified) vs the framework's own
  load of the same file. Bar: within 1.5x.
- registry: register (the registration call), set alias, resolve alias on SQLite, median ms;
  MLflow's create_model_version / set_registered_model_alias / get_model_version_by_alias
  in the same run (peer venv). Bar: under 20 ms each.
- audit: verifying a chain of 100,000 events. Bar: under 2 s.

Usage: python benchmarks/bench_models.py [--sections ...] [--rows 10000] [--events 100000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from peer_run import peer


def best_of(fn: Callable[[], Any], repeat: int = 30) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def median_ms(fn: Callable[[], Any], repeat: int = 50) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _frame(n: int, d: int = 20, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(n, d)), columns=[f"f{i}" for i in range(d)])
    y = (x.f0 + x.f1 * x.f2 + rng.normal(scale=0.5, size=n) > 0).astype(int).to_numpy()
    return x, y


def _models(x: pd.DataFrame, y: np.ndarray) -> dict[str, Any]:
    import lightgbm
    import xgboost
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    return {
        "sklearn LogisticRegression": LogisticRegression(max_iter=500).fit(x, y),
        "sklearn HistGradientBoosting": HistGradientBoostingClassifier(max_iter=100).fit(x, y),
        "lightgbm LGBMClassifier": lightgbm.LGBMClassifier(n_estimators=100, verbose=-1).fit(x, y),
        "xgboost XGBClassifier": xgboost.XGBClassifier(n_estimators=100).fit(x, y),
    }


def section_predict(sp: Any, rows: int) -> None:
    x, y = _frame(20_000)
    test, _ = _frame(rows, seed=1)
    print(f"\n## predict on {rows:,} rows (best of 30; ratio = setpoint / framework)")
    print(f"{'model':32} {'framework':>11} {'setpoint':>11} {'ratio':>7}")
    for label, model in _models(x, y).items():
        name = label.split()[1].lower()
        mv = sp.log_model(model, name, project="bench", input_example=x[:5])
        loaded = sp.load_model(mv.ref)
        np.testing.assert_array_equal(loaded.predict(test), model.predict(test))
        native = best_of(lambda m=model: m.predict(test))
        ours = best_of(lambda m=loaded: m.predict(test))
        print(f"{label:32} {native * 1000:9.2f}ms {ours * 1000:9.2f}ms {ours / native:7.3f}")


def section_load(sp: Any) -> None:
    import lightgbm

    from setpoint.client import sdk

    x, y = _frame(50_000, d=40)
    # Many deep trees: the saved text model is about 50 MB.
    model = lightgbm.LGBMClassifier(
        n_estimators=1800, num_leaves=255, min_child_samples=2, learning_rate=0.01, verbose=-1
    ).fit(x, y)
    mv = sp.log_model(model, "big-lgbm", project="bench", input_example=x[:5])
    files = sdk.client().list_model_files(mv.name, mv.version, mv.project)
    size = sum(f.size for f in files)
    sp.load_model(mv.ref)  # fills the local package cache, as any second load finds it
    folder = os.path.join(sdk.settings().home, "cache", "models", mv.digest)
    model_file = os.path.join(folder, "model.txt")
    native = best_of(lambda: lightgbm.Booster(model_file=model_file), repeat=5)
    ours = best_of(lambda: sp.load_model(mv.ref), repeat=5)
    print(f"\n## load a {size / 1e6:.0f} MB LightGBM model (best of 5)")
    print(f"lightgbm.Booster(model_file=...) {native:.3f}s")
    print(f"sp.load_model (hashes checked)   {ours:.3f}s   ratio {ours / native:.2f}x (bar 1.5x)")


def section_registry(sp: Any, tmp: str) -> None:
    from sklearn.linear_model import LogisticRegression

    from setpoint.client import sdk

    x, y = _frame(1000, d=5)
    model = LogisticRegression().fit(x, y)
    mv = sp.log_model(model, "reg", project="bench", input_example=x[:5])
    c = sdk.client()
    # register: the registration of an uploaded package (what log_model ends with)
    register = median_ms(lambda: c.register_model_version("reg", mv.digest, "bench"), 50)
    versions = iter(range(1, 10_000))
    set_alias = median_ms(
        lambda: c.set_alias("reg", "champion", next(versions), "bench", "", "bench"), 50
    )
    resolve = median_ms(lambda: c.resolve_alias("reg", "champion", "bench"), 200)
    log_model = median_ms(lambda: sp.log_model(model, "reg", project="bench"), 20)
    print("\n## registry operations on SQLite (median ms)")
    print(f"{'operation':24} {'setpoint':>9} {'mlflow':>9} {'ratio':>7}")
    theirs = peer("mlflow_registry.py", os.path.join(tmp, "mlflow"))
    rows = [
        ("register version", register, "register"),
        ("set alias", set_alias, "set_alias"),
        ("resolve alias", resolve, "resolve"),
        ("log_model (whole)", log_model, "log_model"),
    ]
    for label, ours, key in rows:
        other = theirs.get(key) if theirs else None
        ratio = f"{other / ours:6.1f}x" if other else "     -"
        print(f"{label:24} {ours:9.2f} {other if other else float('nan'):9.2f} {ratio}")


def section_audit(events: int, tmp: str) -> None:
    from sqlalchemy import insert, update

    from setpoint.core.clock import SystemClock
    from setpoint.governance.audit import GENESIS, AuditLog, event_hash
    from setpoint.store.metadata.database import Database
    from setpoint.store.metadata.tables import audit_events, audit_head

    db = Database(f"sqlite:///{tmp}/audit.db").open()
    prev, rows = GENESIS, []
    now = int(time.time() * 1000)
    for seq in range(1, events + 1):
        row = (seq, now + seq, "alice", "alias.set", "fraud", "model", "fraud/m", None, '{"v":1}')
        digest = event_hash(prev, row)
        rows.append(
            dict(
                seq=seq,
                time=row[1],
                actor=row[2],
                action=row[3],
                project=row[4],
                subject_kind=row[5],
                subject=row[6],
                before=row[7],
                after=row[8],
                prev_hash=prev,
                hash=digest,
            )
        )
        prev = digest
    with db.write() as conn:
        conn.execute(insert(audit_events), rows)
        conn.execute(update(audit_head).values(seq=events, hash=prev))
    log = AuditLog(db, SystemClock())
    t0 = time.perf_counter()
    verdict = log.verify()
    took = time.perf_counter() - t0
    assert verdict.ok and verdict.events == events
    print(f"\n## audit verify: {events:,} events in {took:.2f}s (bar 2 s)")
    db.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sections", default="predict,load,registry,audit")
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=100_000)
    args = ap.parse_args()
    sections = set(args.sections.split(","))
    with tempfile.TemporaryDirectory(prefix="setpoint-bench-models-") as tmp:
        os.environ["SETPOINT_HOME"] = os.path.join(tmp, "home")
        import setpoint as sp

        if "predict" in sections:
            section_predict(sp, args.rows)
        if "load" in sections:
            section_load(sp)
        if "registry" in sections:
            section_registry(sp, tmp)
        if "audit" in sections:
            section_audit(args.events, tmp)


if __name__ == "__main__":
    main()
