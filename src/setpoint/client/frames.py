"""Turn run records and metric histories into pandas DataFrames, column by column."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from setpoint.core.types import MetricHistory, Run

if TYPE_CHECKING:
    import pandas as pd

_ATTRS = (
    "id",
    "project",
    "name",
    "status",
    "start_time",
    "end_time",
    "parent_id",
    "git_commit",
    "user",
    "host",
    "error",
)


def runs_frame(runs: Sequence[Run]) -> pd.DataFrame:
    import pandas as pd

    cols: dict[str, list[object]] = {
        "run_id" if a == "id" else a: [getattr(r, a) for r in runs] for a in _ATTRS
    }
    n = len(runs)
    for prefix, attr in (("metrics", "metrics"), ("params", "params"), ("tags", "tags")):
        keys = sorted({k for r in runs for k in getattr(r, attr)})
        for k in keys:
            cols[f"{prefix}.{k}"] = [getattr(r, attr).get(k) for r in runs]
    df = pd.DataFrame(cols, index=range(n))
    for t in ("start_time", "end_time"):
        # millisecond resolution: every time a run can hold (any 64-bit number of ms) has
        # a date, where nanoseconds end in the year 2262
        ms = pd.Series(df[t], dtype="Int64").to_numpy(dtype="int64", na_value=NAT)
        df[t] = pd.Series(ms.view("datetime64[ms]"), index=df.index).dt.tz_localize("UTC")
    return df


NAT = -(2**63)  # datetime64's "not a time"


def history_frame(h: MetricHistory) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    return pd.DataFrame(
        {
            "step": np.asarray(h.steps, dtype=np.int64),
            "value": np.asarray(h.values, dtype=np.float64),
            "timestamp": np.asarray(h.timestamps, dtype=np.int64),
        }
    )
