"""Model cards: assembled from the store in both SDK modes, rendered as Markdown and HTML."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import setpoint as sp


def test_the_card_tells_what_the_platform_knows(client: Any) -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"amount": rng.normal(size=300), "country": rng.choice(["de", "fr"], 300)})
    df["fraud"] = (df.amount + rng.normal(scale=0.5, size=300) > 0).astype(int)
    train = sp.log_dataset(df, name="train", project="fraud")
    with sp.start_run(project="fraud") as run:
        run.log_input(train)
        run.log_params({"C": 1.0})
        model = LogisticRegression().fit(df[["amount"]], df.fraud)
        mv = run.log_model(model, "fraud-detector", input_example=df[["amount"]][:5])
    sp.evaluate(mv.ref, train, "fraud", slices=["country"])
    sp.set_policy(
        "fraud-detector",
        "champion",
        "gates:\n  - metric: accuracy\n    min: 0.5\n",
        project="fraud",
    )
    sp.approve(mv.ref, to="champion", comment="checked <slices>")
    sp.promote(mv.ref, to="champion")
    sp.set_model_tags(
        mv.ref, intended_use="Flag card payments for review.", limitations="EU only | <b>"
    )
    text = sp.model_card("fraud/fraud-detector@champion")
    for expected in (
        "# Model card: fraud/fraud-detector/1",
        "Flag card payments for review.",
        "EU only | &lt;b&gt;",
        "- **param C**: 1.0",
        "| fraud/train@1 | 300 | 3 | 0 |",
        "| amount | double |",
        "## Slices by country",
        "## Feature importance",
        "| accuracy min 0.5 | pass |",
        "checked &lt;slices&gt;",
        "| champion | - | 1 | promote |",
    ):
        assert expected in text, expected
    page = sp.model_card(mv.ref, format="html")
    assert page.startswith("<!doctype html>") and "<script" not in page and "http" not in page
    assert "EU only | &lt;b&gt;" in page and "<b>" not in page.split("</style>")[1]
    events = client.list_audit_events(project="fraud", action="model_version.tags")
    assert events[0].after["limitations"] == "EU only | <b>"
