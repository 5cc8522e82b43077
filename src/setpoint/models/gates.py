"""Promotion gates: a policy (YAML) of rules a model version must pass to move an alias.

Gates judge stored facts only (evaluations, approvals, validation results), never by loading
a model, so the server can evaluate them for any flavor::

    dataset: fraud/holdout@3          # the evaluation the metric gates read (default: latest)
    gates:
      - metric: roc_auc               # absolute thresholds
        min: 0.80
      - compare: roc_auc              # against the alias's current holder, same dataset version
        direction: higher             # higher | lower is better
        min_improvement: 0.0          # or max_regression: 0.01
      - data_validation: passed       # the training data's latest validation passed
      - latency_p95_ms: 50            # predict on the input example batch
      - fairness: {column: gender, metric: accuracy, max_gap: 0.05}
      - approvals: 1                  # by users with the approver role
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from setpoint.core import names
from setpoint.core.errors import InvalidArgumentError
from setpoint.core.types import Evaluation

KINDS = ("metric", "compare", "data_validation", "latency_p95_ms", "fairness", "approvals")
MAX_POLICY = 64 * 1024
MAX_APPROVALS = 1000


@dataclass(frozen=True, kw_only=True)
class Gate:
    kind: str
    args: dict[str, Any]

    def describe(self) -> str:
        a = self.args
        if self.kind == "metric":
            bounds = [f"{k} {a[k]}" for k in ("min", "max") if k in a]
            return f"{a['metric']} {' and '.join(bounds)}"
        if self.kind == "compare":
            limit = (
                f"improves by >= {a['min_improvement']}"
                if "min_improvement" in a
                else f"regresses by <= {a.get('max_regression', 0.0)}"
            )
            return f"{a['metric']} vs current holder: {limit} ({a['direction']} is better)"
        if self.kind == "data_validation":
            return "training data validation passed"
        if self.kind == "latency_p95_ms":
            return f"predict p95 <= {a['limit']} ms"
        if self.kind == "fairness":
            return f"{a['metric']} gap across {a['column']} <= {a['max_gap']}"
        return f"{a['count']} approval(s)"


@dataclass(frozen=True, kw_only=True)
class Policy:
    gates: list[Gate]
    dataset: str | None = None
    text: str = ""


@dataclass(frozen=True, kw_only=True)
class Facts:
    """What the gates judge: the candidate's evaluation, the current holder's on the same
    dataset version, approvals, and the validations of the candidate's training data."""

    evaluation: Evaluation | None
    holder: str | None  # the current holder's ref
    holder_evaluation: Evaluation | None
    approvals: int
    validations: list[tuple[str, bool | None]] = field(default_factory=list)  # (dataset, passed)


def parse_policy(text: str) -> Policy:
    """Parse and check a policy; every mistake names the gate and what was expected."""
    import yaml

    from setpoint.core import yaml_docs

    if not isinstance(text, str) or len(text) > MAX_POLICY:
        raise InvalidArgumentError(
            f"policy must be YAML text of at most {MAX_POLICY} bytes", field="policy"
        )
    try:
        doc = yaml_docs.load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        line, what = yaml_docs.problem(exc)
        where = "" if line is None else f" (line {line})"
        raise InvalidArgumentError(
            f"policy is not valid YAML{where}: {what}", field="policy"
        ) from None
    if not isinstance(doc, dict):
        raise InvalidArgumentError("policy must be a mapping with 'gates:'", field="policy")
    unknown = set(doc) - {"dataset", "gates"}
    if unknown:
        raise InvalidArgumentError(
            f"policy has unknown key(s) {sorted(unknown)}; expected dataset, gates",
            field="policy",
        )
    dataset = doc.get("dataset")
    if dataset is not None and not isinstance(dataset, str):
        raise InvalidArgumentError(
            "policy dataset must be a dataset version like project/name@3", field="policy"
        )
    raw = doc.get("gates") or []
    if not isinstance(raw, list):
        raise InvalidArgumentError("policy gates must be a list", field="policy")
    return Policy(gates=[_gate(i + 1, g) for i, g in enumerate(raw)], dataset=dataset, text=text)


def _gate(n: int, raw: object) -> Gate:
    def bad(msg: str) -> InvalidArgumentError:
        return InvalidArgumentError(f"gate {n}: {msg}", field="policy")

    if not isinstance(raw, dict):
        raise bad(f"must be a mapping with one of {', '.join(KINDS)}")
    kinds = [k for k in KINDS if k in raw]
    if len(kinds) != 1:
        raise bad(f"must have exactly one of {', '.join(KINDS)}")
    kind = kinds[0]
    value = raw[kind]

    def number(key: str, v: object, *, least: float | None = None) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise bad(f"{key} must be a finite number, got {v!r}")
        if least is not None and v < least:
            raise bad(f"{key} must be at least {least:g}, got {v!r}")
        return float(v)

    def only(*allowed: str) -> None:
        extra = set(raw) - set(allowed)
        if extra:
            raise bad(f"unknown key(s) {sorted(extra)}; expected {', '.join(allowed)}")

    if kind == "metric":
        only("metric", "min", "max")
        if not isinstance(value, str) or not value:
            raise bad("metric must name a metric, e.g. roc_auc")
        if "min" not in raw and "max" not in raw:
            raise bad("a metric gate needs min and/or max")
        args: dict[str, Any] = {"metric": value}
        args.update({k: number(k, raw[k]) for k in ("min", "max") if k in raw})
        if args.get("min", -math.inf) > args.get("max", math.inf):
            raise bad(f"min {args['min']:g} is above max {args['max']:g}: no value passes")
        return Gate(kind=kind, args=args)
    if kind == "compare":
        only("compare", "direction", "min_improvement", "max_regression")
        if not isinstance(value, str) or not value:
            raise bad("compare must name a metric, e.g. roc_auc")
        direction = raw.get("direction", "higher")
        if direction not in ("higher", "lower"):
            raise bad("direction must be 'higher' or 'lower' (which values are better)")
        if "min_improvement" in raw and "max_regression" in raw:
            raise bad("give min_improvement or max_regression, not both")
        args = {"metric": value, "direction": direction}
        for k in ("min_improvement", "max_regression"):
            if k in raw:
                args[k] = number(k, raw[k])
        return Gate(kind=kind, args=args)
    if kind == "data_validation":
        only("data_validation")
        if value not in ("passed", True):
            raise bad("data_validation must be 'passed'")
        return Gate(kind=kind, args={})
    if kind == "latency_p95_ms":
        only("latency_p95_ms")
        limit = number("latency_p95_ms", value)
        if limit <= 0:
            raise bad("latency_p95_ms must be positive")
        return Gate(kind=kind, args={"limit": limit})
    if kind == "fairness":
        only("fairness")
        if not isinstance(value, dict) or set(value) - {"column", "metric", "max_gap"}:
            raise bad("fairness must be {column, metric, max_gap}")
        column = value.get("column")
        if not isinstance(column, str) or not column or "max_gap" not in value:
            raise bad("fairness needs column (the sensitive column) and max_gap")
        metric = value.get("metric", "accuracy")
        if not isinstance(metric, str) or not metric:
            raise bad(f"fairness metric must name a metric, e.g. accuracy; got {metric!r}")
        return Gate(
            kind=kind,
            args={
                "column": column,
                "metric": metric,
                "max_gap": number("max_gap", value["max_gap"], least=0),
            },
        )
    only("approvals")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_APPROVALS:
        raise bad(f"approvals must be a whole number from 1 to {MAX_APPROVALS}")
    return Gate(kind=kind, args={"count": value})


def evaluate(policy: Policy, facts: Facts) -> list[dict[str, Any]]:
    """Each gate's verdict: ``gate``, ``passed``, ``observed``, ``expected``, ``detail``."""
    return [_judge(g, facts) for g in policy.gates]


def _metric(ev: Evaluation | None, name: str) -> float | None:
    if ev is None:
        return None
    v = ev.metrics.get(name)
    return None if v is None else float(v)


def _measured(ev: Evaluation | None) -> str:
    """Where a metric comes from: the dataset version and who recorded the evaluation (gates
    trust evaluations as recorded, so the verdict says whose they are)."""
    if ev is None:
        return ""
    return f"on {ev.dataset}, evaluated by {ev.creator or 'unknown'}"


def _judge(gate: Gate, facts: Facts) -> dict[str, Any]:
    a = gate.args
    ev = facts.evaluation
    out: dict[str, Any] = {"gate": gate.kind, "rule": gate.describe(), "detail": ""}

    def verdict(passed: bool, observed: Any, expected: Any, detail: str = "") -> dict[str, Any]:
        return {
            **out,
            "passed": passed,
            "observed": observed,
            "expected": expected,
            "detail": detail,
        }

    if gate.kind in ("metric", "compare", "latency_p95_ms", "fairness") and ev is None:
        return verdict(False, None, gate.describe(), "the version has no evaluation: run evaluate")
    assert ev is not None or gate.kind in ("data_validation", "approvals")
    if gate.kind == "metric":
        v = _metric(ev, a["metric"])
        if v is None:
            return verdict(False, None, gate.describe(), f"no {a['metric']} in {ev and ev.dataset}")
        ok = ("min" not in a or v >= a["min"]) and ("max" not in a or v <= a["max"])
        return verdict(ok, v, gate.describe(), _measured(ev))
    if gate.kind == "compare":
        v = _metric(ev, a["metric"])
        if facts.holder is None:
            return verdict(True, v, gate.describe(), "no current holder: nothing to compare")
        held = _metric(facts.holder_evaluation, a["metric"])
        if facts.holder_evaluation is None or held is None or v is None:
            return verdict(
                False,
                v,
                gate.describe(),
                f"{facts.holder} has no {a['metric']} on {ev and ev.dataset}: evaluate it there",
            )
        gain = v - held if a["direction"] == "higher" else held - v
        ok = (
            gain >= a["min_improvement"]
            if "min_improvement" in a
            else gain >= -a.get("max_regression", 0.0)
        )
        return verdict(ok, v, gate.describe(), f"{facts.holder}: {held:.6g} (change {gain:+.6g})")
    if gate.kind == "latency_p95_ms":
        v = _metric(ev, "latency_p95_ms")
        if v is None:
            return verdict(False, None, gate.describe(), "the evaluation measured no latency")
        return verdict(v <= a["limit"], v, gate.describe())
    if gate.kind == "fairness":
        column, metric = a["column"], a["metric"]
        slices = ((ev.result if ev else {}).get("slices") or {}).get(column)
        if not slices:
            return verdict(
                False, None, gate.describe(), f"the evaluation has no slices on {column}"
            )
        values: dict[str, float] = {}
        for group, scores in slices.items():
            v = scores.get(metric)
            # Fail closed, as the metric gate does: a group without a value (a misspelled
            # metric, one the task does not compute, roc_auc on a one-class group, a NaN
            # stored as null) is a group nobody judged, not one that is fair.
            if not names.is_finite_number(v):
                where = f"slice group {group!r} of {column} on {ev and ev.dataset}"
                shown = "null" if v is None else repr(v)
                detail = (
                    f"{where} has no {metric}"
                    if metric not in scores
                    else f"{where} has {metric} {shown}: undefined there, or not a finite number"
                )
                return verdict(False, None, gate.describe(), detail)
            values[group] = float(v)
        if len(values) < 2:
            return verdict(True, 0.0, gate.describe(), f"{column} has fewer than two groups")
        gap = max(values.values()) - min(values.values())
        worst = min(values, key=lambda k: values[k])
        return verdict(gap <= a["max_gap"], gap, gate.describe(), f"lowest: {worst}")
    if gate.kind == "data_validation":
        if not facts.validations:
            return verdict(False, None, "passed", "no training dataset version is recorded")
        failed = [d for d, ok in facts.validations if ok is not True]
        detail = (
            "not validated or failed: " + ", ".join(failed)
            if failed
            else ", ".join(d for d, _ in facts.validations)
        )
        return verdict(not failed, "passed" if not failed else "failed", "passed", detail)
    return verdict(facts.approvals >= a["count"], facts.approvals, a["count"])
