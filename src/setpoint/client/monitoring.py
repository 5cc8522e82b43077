"""Running a monitor through any client: read the deployment's prediction log since the last
computed window, compute the complete windows not computed yet (and those that got late
labels), apply the alert rules to each in turn: raise what broke (once: an open alert of the
same rule is not raised again, and of two runs raising it at once the store keeps one),
resolve what holds again, post each new alert to the monitor's webhook; then store the
window. Schedules added with ``--on-alert MONITOR`` then run their pipelines."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson

from setpoint.core.durations import parse_seconds
from setpoint.core.errors import ConflictError, InvalidArgumentError
from setpoint.core.names import is_whole

WEBHOOK_ATTEMPTS = 3
WEBHOOK_TIMEOUT_S = 5.0


def run_monitor(
    c: Any,
    project: str,
    name: str,
    reference: dict[str, Any],
    now_ms: int | None = None,
    post: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Compute what is due; returns the windows computed and the alerts raised and resolved."""
    from setpoint.monitoring.windows import breaches, compute, window_starts

    m = c.get_monitor(name, project)
    cfg = m.config
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    done = {w.start_at: w for w in c.list_monitor_windows(name, project)}
    files = c.list_prediction_logs(m.deployment, project, "predictions")
    feedback = c.list_prediction_logs(m.deployment, project, "feedback")
    if not files:
        return {"computed": [], "raised": [], "resolved": []}
    seconds = cfg.get("window_seconds")
    rescore: set[int] = set()
    if seconds:
        cutoff = max((w.end_at for w in done.values()), default=0)
        for w in done.values():  # late labels: feedback written after the window was computed
            if _late(w, feedback):
                rescore.add(w.start_at)
                cutoff = min(cutoff, w.start_at)
    else:
        cutoff = 0  # row windows are counted from the first row
    files = [f for f in files if f.last_at >= cutoff]
    if not files:  # nothing logged since the windows already computed
        return {"computed": [], "raised": [], "resolved": []}
    frame = _load(c, files, [f for f in feedback if f.last_at >= cutoff])
    frame = frame[frame["role"] != "shadow"]
    if seconds:
        times = _epoch_ms(frame["time"])
        frame = frame.assign(_start=window_starts(times, seconds))
        size = seconds * 1000
        # a window is complete once it ended and the servers had time to write its rows
        grace = int(cfg.get("grace_seconds", 60)) * 1000
        groups = {
            s: g
            for s, g in frame.groupby("_start", sort=True)
            if s + size + grace <= now and s >= cutoff
        }
        # new windows, and computed ones whose rows got labels since (late feedback)
        due = [
            s
            for s, g in groups.items()
            if s not in done or (s in rescore and int(g["label"].notna().sum()) > done[s].labeled)
        ]
        groups = {s: groups[s] for s in due}
        bounds = {s: (s, s + size) for s in due}
    else:
        n = int(cfg["window_rows"])
        frame = frame.sort_values(["time", "request_id", "row"], kind="stable").reset_index(
            drop=True
        )
        complete = len(frame) // n
        groups = {k * n: frame.iloc[k * n : (k + 1) * n] for k in range(complete)}
        due = [
            s
            for s, g in groups.items()
            if s not in done
            or (_late(done[s], feedback) and int(g["label"].notna().sum()) > done[s].labeled)
        ]
        groups = {s: groups[s] for s in due}
        bounds = {
            s: (
                int(g["time"].iloc[0].value // 1_000_000),
                int(g["time"].iloc[-1].value // 1_000_000),
            )
            for s, g in groups.items()
        }
    baseline = _baseline(c, m, project, frame)
    fresh: dict[int, tuple[int, int, dict[str, Any]]] = {}
    for start in due:
        rows = groups[start]
        result = compute(rows, reference, cfg, baseline)
        fresh[start] = (len(rows), int(result["labeled"]), _as_stored(result))
    # every window's result as the store keeps it: those computed before, and now
    results = {s: w.result for s, w in done.items()} | {s: r for s, (_, _, r) in fresh.items()}
    computed: list[Any] = []
    raised: list[Any] = []
    resolved: list[Any] = []
    open_rules = (
        {a.rule: a for a in c.list_alerts(project, name, None, 1000, "open") if a.rule}
        if fresh
        else {}
    )
    # each new window in turn, as if the monitor had run after each: a breach in any of them
    # raises its alert, naming that window (a run after downtime misses none). A window is
    # stored only once its alerts are raised and resolved: a run stopped before that computes
    # it again, and judges it again, next time (raising is idempotent in the store)
    for start in sorted(fresh):
        n_rows, labeled, result = fresh[start]
        history = [results[s] for s in sorted(results) if s <= start]
        broken, held = breaches(cfg, history)
        # a window scored again (late labels) raises only what it breaks now and did not
        # before: what it broke was raised then (or was part of an open alert), and one
        # breach must not start a second retraining
        before = _broken_before(cfg, done, start)
        for b in broken:
            if b.rule in open_rules or b.rule in before:
                continue  # deduplicated: the condition is still the same open alert
            details = {**b.details, "window": {"start": start, "end": bounds[start][1]}}
            try:
                alert = c.raise_alert(name, b.message, project, b.severity, details, None, b.rule)
            except ConflictError as exc:
                if exc.field != "rule":
                    raise
                # another scheduler (or `monitor run`) raised it first: its alert, its webhook
                # post and its retraining; this run only follows it
                current = c.list_alerts(project, name, None, 1000, "open")
                open_rules.update({a.rule: a for a in current if a.rule == b.rule})
                continue
            hook = cfg.get("webhook")
            if hook:  # posted by the one raise that stored the alert, so once per breach
                outcome = _deliver(
                    post or post_json,
                    hook,
                    {
                        "monitor": name,
                        "project": project,
                        "deployment": m.deployment,
                        "rule": b.rule,
                        "severity": b.severity,
                        "message": b.message,
                        "details": details,
                    },
                )
                c.record_alert_webhook(alert.id, outcome, project)
                alert = replace(alert, details={**alert.details, "webhook": outcome})
            raised.append(alert)
            open_rules[b.rule] = alert
        # a rescored older window does not resolve what a newer one (not redone) shows
        if not any(s > start and s not in fresh for s in results):
            for rule in held:
                alert = open_rules.pop(rule, None)
                if alert is not None:
                    c.resolve_alert(alert.id, project)
                    resolved.append(alert)
        computed.append(
            c.record_monitor_window(name, start, bounds[start][1], n_rows, labeled, result, project)
        )
    return {"computed": computed, "raised": raised, "resolved": resolved}


def _as_stored(result: dict[str, Any]) -> dict[str, Any]:
    """A window's result as the store gives it back (JSON: numpy values as numbers, a
    non-finite metric as null), so alerts are judged on what later runs read."""
    return dict(orjson.loads(orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY)))


def _broken_before(cfg: dict[str, Any], done: dict[int, Any], start: int) -> set[str]:
    """The rules window ``start`` broke when it was computed before this run (none when it
    is new), judged on the windows as they were then."""
    from setpoint.monitoring.windows import breaches

    if start not in done:
        return set()
    history = [done[s].result for s in sorted(done) if s <= start]
    return {b.rule for b in breaches(cfg, history)[0]}


def _epoch_ms(times: Any) -> Any:
    """A pandas datetime column (any unit, UTC) as epoch milliseconds."""
    import pandas as pd

    return ((times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).to_numpy()


def _late(window: Any, feedback: list[Any]) -> bool:
    return window.labeled < window.rows and any(
        f.created_at > window.computed_at and f.last_at >= window.start_at for f in feedback
    )


def _load(c: Any, files: list[Any], feedback: list[Any]) -> Any:
    """The prediction log rows of ``files`` with the labels of ``feedback`` joined."""
    import pandas as pd
    import pyarrow as pa

    from setpoint.client.materializers import blob_bytes
    from setpoint.client.serving import join_labels
    from setpoint.serving.predlog import read_file

    if not files:
        return pd.DataFrame(columns=["request_id", "row", "time", "model_version", "role"])
    tables = [read_file(blob_bytes(c, f.digest)) for f in files]
    frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    labels = [read_file(blob_bytes(c, f.digest)) for f in feedback]
    return join_labels(frame, labels)


def _baseline(c: Any, m: Any, project: str, frame: Any) -> dict[str, float] | None:
    """The served version's evaluation metrics (the deployment is named after its model),
    to compare a window's metrics with."""
    if frame.empty or "model_version" not in frame:
        return None
    version = int(frame["model_version"].mode().iloc[0])
    try:
        evaluations = c.list_evaluations(m.deployment, version, project)
    except Exception:  # a deployment named otherwise, or no such version
        return None
    if not evaluations:
        return None
    return {k: float(v) for k, v in evaluations[-1].metrics.items() if v is not None}


def post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    import httpx

    response = httpx.post(
        url,
        content=orjson.dumps(body),
        headers={"content-type": "application/json"},
        timeout=WEBHOOK_TIMEOUT_S,
    )
    if response.status_code >= 300:
        raise RuntimeError(f"HTTP {response.status_code}")
    return {"status": response.status_code}


def _deliver(
    post: Callable[[str, dict[str, Any]], dict[str, Any]], url: str, body: dict[str, Any]
) -> dict[str, Any]:
    """Post with retries and backoff; the outcome goes with the alert (a failing webhook
    never stops the monitor)."""
    error = ""
    for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
        try:
            out = post(url, body)
            return {"delivered": True, "attempts": attempt, **out}
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if attempt < WEBHOOK_ATTEMPTS:
                time.sleep(0.2 * 2 ** (attempt - 1))
    return {"delivered": False, "attempts": WEBHOOK_ATTEMPTS, "error": error[:500]}


MAX_ROWS = 10**12  # rows in a window


def parse_window(text: str) -> dict[str, int]:
    """ "1h", "30m", "1d", "90s" -> window_seconds; "10000rows" -> window_rows."""
    text = text.strip().lower()
    count = text.removesuffix("rows")
    if count != text and is_whole(count, 30) and 0 < int(count) <= MAX_ROWS:
        return {"window_rows": int(count)}
    seconds = parse_seconds(text)
    if seconds is not None and seconds > 0:
        return {"window_seconds": seconds}
    raise InvalidArgumentError(
        "window must be a duration like 1h, 30m, 1d (at most 100 years) or a row count like "
        f"10000rows (at most {MAX_ROWS:,}), got {text!r}",
        field="window",
    )
