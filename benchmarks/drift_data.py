"""The drift benchmark's data: reference and current frames of N rows x (20 numeric +
5 categorical) columns, a third of the numeric columns shifted by 0.1 (as the peer-bench
anchor script makes them)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def frame(n: int, shift: float, rng: np.random.Generator) -> pd.DataFrame:
    d = {f"x{i}": rng.normal(shift * (i % 3 == 0), 1, n) for i in range(20)}
    for j in range(5):
        d[f"c{j}"] = rng.choice(list("abcdefgh"), n).astype(object)
    return pd.DataFrame(d, copy=False)  # no consolidated copy of the columns


def frames(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    return frame(n, 0.0, rng), frame(n, 0.1, rng)
