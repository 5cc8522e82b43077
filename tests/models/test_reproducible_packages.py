"""The same model saved twice gives the same package bytes, in one process or in two: a model
output's digest is part of downstream steps' cache keys, so it must change only with the model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from setpoint.core.hashing import digest_bytes
from setpoint.models.package import load_model, manifest_bytes, save_model

_rng = np.random.default_rng(11)
X = _rng.normal(size=(120, 3))
Y = (X[:, 0] - X[:, 2] > 0).astype("int64")


def models() -> dict[str, Any]:
    """Freshly fitted models: the same ones in every process."""
    return {
        "logistic": LogisticRegression().fit(X, Y),
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y),
    }


def save_all(folder: str) -> dict[str, dict[str, Any]]:
    """Each model's package files and its manifest digest, as the registry records them."""
    out = {}
    for name, model in models().items():
        target = os.path.join(folder, name)
        meta = save_model(model, target, input_example=X[:5])
        files = [
            {"path": rel, "digest": digest, "size": os.path.getsize(os.path.join(target, rel))}
            for rel, digest in sorted(meta.files.items())
        ]
        out[name] = {"files": meta.files, "manifest": digest_bytes(manifest_bytes(files))}
    return out


def save_in_a_new_process(folder: Path, env: dict[str, str] | None = None) -> Any:
    probe = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('reproducible', {__file__!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        f"print(json.dumps(module.save_all({str(folder)!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return json.loads(done.stdout.splitlines()[-1])


def test_same_model_saved_twice_in_one_process_gives_the_same_package(tmp_path: Path) -> None:
    first = save_all(str(tmp_path / "first"))
    second = save_all(str(tmp_path / "second"))
    assert first == second
    for name in first:
        assert (tmp_path / "first" / name / "model.skops").read_bytes() == (
            tmp_path / "second" / name / "model.skops"
        ).read_bytes()


def test_same_model_saved_in_another_process_gives_the_same_package(tmp_path: Path) -> None:
    here = save_all(str(tmp_path / "here"))
    there = save_in_a_new_process(tmp_path / "there")
    assert there == here


def test_stable_package_loads_and_predicts_like_the_original(tmp_path: Path) -> None:
    save_all(str(tmp_path))
    for name, model in models().items():
        loaded = load_model(tmp_path / name)  # digests checked first
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
        np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))


SETS_PROBE = """
import sys
from setpoint.models.flavors import _skops
_skops.dump({"words": {"alpha", "beta", "gamma", "delta"}, "pair": frozenset({"p", "q", "r"})},
            sys.argv[1])
"""


def test_sets_are_written_in_one_order_whatever_the_string_hashing(tmp_path: Path) -> None:
    import skops.io

    paths = [tmp_path / f"seed{seed}.skops" for seed in (1, 2, 3)]
    for seed, path in zip((1, 2, 3), paths, strict=True):
        subprocess.run(
            [sys.executable, "-c", SETS_PROBE, str(path)],
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        )
    assert len({p.read_bytes() for p in paths}) == 1
    loaded = skops.io.load(paths[0], trusted=skops.io.get_untrusted_types(file=paths[0]))
    assert loaded == {"words": {"alpha", "beta", "gamma", "delta"}, "pair": frozenset("pqr")}
