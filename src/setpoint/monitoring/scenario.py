"""A bundled scenario for demos and tests: card transactions whose fraud pattern changes in
the second week (amounts and distance matter less, online purchases at night more), and a
small logistic-regression model in numpy that learns either week."""

from __future__ import annotations

from typing import Any

import numpy as np

FEATURES = ["amount", "distance", "online", "night"]
MERCHANTS = ["grocery", "fuel", "travel", "electronics", "online"]


def transactions(n: int, week: int, seed: int) -> Any:
    """``n`` transactions of ``week`` (1, or 2 and later: the new pattern), with ``fraud``."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    later = week >= 2
    amount = rng.lognormal(3.5 + 0.4 * later, 1.0, n)
    distance = rng.exponential(8.0 if later else 5.0, n)
    online = (rng.random(n) < (0.6 if later else 0.3)).astype(np.float64)
    night = (rng.random(n) < 0.25).astype(np.float64)
    p = [0.2, 0.15, 0.1, 0.15, 0.4] if later else [0.35, 0.25, 0.15, 0.15, 0.1]
    merchant = rng.choice(MERCHANTS, n, p=p)
    z_amount = (np.log(amount) - 3.5) / 1.0
    z_distance = (distance - 5.0) / 5.0
    if later:
        score = 0.2 * z_amount + 1.6 * online + 1.4 * night - 1.3
    else:
        score = 1.3 * z_amount + 1.1 * z_distance - 0.6
    fraud = ((score + rng.normal(0, 0.5, n)) > 0.5).astype(np.int64)
    return pd.DataFrame(
        {
            "amount": amount,
            "distance": distance,
            "online": online,
            "night": night,
            "merchant": merchant,
            "fraud": fraud,
        }
    )


class FraudModel:
    """Logistic regression over standardized features (weights found by ``fit``)."""

    def __init__(
        self, weights: list[float], bias: float, means: list[float], scales: list[float]
    ) -> None:
        self.weights = weights
        self.bias = bias
        self.means = means
        self.scales = scales

    def predict_proba(self, frame: Any) -> np.ndarray:
        x = (np.asarray(frame[FEATURES], dtype=np.float64) - self.means) / self.scales
        p = 1 / (1 + np.exp(-(x @ np.asarray(self.weights) + self.bias)))
        return np.column_stack([1 - p, p])

    def predict(self, frame: Any) -> np.ndarray:
        return (self.predict_proba(frame)[:, 1] > 0.5).astype(np.int64)


def fit(frame: Any, target: str = "fraud", epochs: int = 400, lr: float = 0.5) -> FraudModel:
    x = np.asarray(frame[FEATURES], dtype=np.float64)
    y = np.asarray(frame[target], dtype=np.float64)
    means, scales = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - means) / scales
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(epochs):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        w -= lr * (z.T @ (p - y) / len(y) + 1e-3 * w)
        b -= lr * float(np.mean(p - y))
    return FraudModel(w.tolist(), b, means.tolist(), scales.tolist())
