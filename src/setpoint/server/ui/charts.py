"""What charts and graphs need from the server: long series reduced to what a screen can
show without losing its shape, and a layered layout for DAGs and lineage graphs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_BUCKETS = 2000


def reduce_series(x: Any, y: Any, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """At most four points per bucket of equal x range: the first, lowest, highest and last
    (M4). Joined in order they draw the same picture as every point at that width, so a
    spike of one point in a million stays visible (plain sampling would drop it). NaNs are
    kept where they fall so the line breaks there."""
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    buckets = max(1, min(int(buckets), MAX_BUCKETS))
    n = xs.size
    if n <= 4 * buckets:
        return xs, ys
    order = np.argsort(xs, kind="stable") if np.any(np.diff(xs) < 0) else None
    if order is not None:
        xs, ys = xs[order], ys[order]
    lo, hi = xs[0], xs[-1]
    span = hi - lo if hi > lo else 1.0
    bucket = np.minimum(((xs - lo) / span * buckets).astype(np.int64), buckets - 1)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], n] - 1
    finite = np.where(np.isnan(ys), np.inf, ys)
    mins = starts + _argreduce(finite, starts, np.minimum)
    finite = np.where(np.isnan(ys), -np.inf, ys)
    maxs = starts + _argreduce(finite, starts, np.maximum)
    keep = np.unique(np.concatenate([starts, mins, maxs, ends]))
    nan_at = np.flatnonzero(np.isnan(ys))
    if nan_at.size:
        keep = np.unique(np.concatenate([keep, nan_at[: 4 * buckets]]))
    return xs[keep], ys[keep]


def _argreduce(values: np.ndarray, starts: np.ndarray, op: Any) -> np.ndarray:
    """Within each segment beginning at ``starts``: the offset of the value ``op`` picks."""
    best = op.reduceat(values, starts)
    seg = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, values.size]))
    hit = values == best[seg]
    # the first hit in each segment
    pos = np.flatnonzero(hit)
    first = np.full(starts.size, -1, dtype=np.int64)
    segs = seg[pos]
    order = np.flatnonzero(np.r_[True, segs[1:] != segs[:-1]])
    first[segs[order]] = pos[order]
    missing = first < 0  # a segment of only NaN/inf: take its start
    first[missing] = starts[missing]
    return first - starts


@dataclass
class GraphNode:
    key: str
    label: str
    kind: str
    href: str | None = None
    detail: str = ""
    classes: list[str] = field(default_factory=list)
    x: float = 0.0
    y: float = 0.0


@dataclass
class Graph:
    nodes: list[GraphNode]
    edges: list[tuple[GraphNode, GraphNode, str]]
    width: float
    height: float

    def path(self, a: GraphNode, b: GraphNode) -> str:
        """An SVG path from the right side of ``a`` to the left side of ``b``."""
        x1, y1 = a.x + NODE_W, a.y + NODE_H / 2
        x2, y2 = b.x, b.y + NODE_H / 2
        mid = (x1 + x2) / 2
        return f"M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"


NODE_W, NODE_H, GAP_X, GAP_Y = 190.0, 44.0, 60.0, 16.0


def layout(nodes: Sequence[GraphNode], edges: Sequence[tuple[str, str, str]]) -> Graph:
    """Place ``nodes`` in columns by longest path from a source (left to right), ordered in
    each column by the mean row of their predecessors to keep edges short. ``edges`` are
    (source key, target key, label); edges to unknown nodes are dropped, cycles broken."""
    by_key = {n.key: n for n in nodes}
    kept = [(a, b, r) for a, b, r in edges if a in by_key and b in by_key and a != b]
    succs: dict[str, list[str]] = {n.key: [] for n in nodes}
    for a, b, _ in kept:
        succs[a].append(b)
    # Depth-first from each node in the given order; an edge back into the current path
    # closes a cycle and is left out of the layering (it is still drawn).
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1: on the path, 2: done
    for n in nodes:
        if n.key in state:
            continue
        stack = [(n.key, iter(succs[n.key]))]
        state[n.key] = 1
        while stack:
            key, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[key] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                back.add((key, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succs[nxt])))
    preds: dict[str, list[str]] = {n.key: [] for n in nodes}
    for a, b, _ in kept:
        if (a, b) not in back:
            preds[b].append(a)
    depth: dict[str, int] = {}
    for n in nodes:  # longest path from a source, without recursion
        todo = [n.key]
        while todo:
            key = todo[-1]
            if key in depth:
                todo.pop()
                continue
            waiting = [q for q in preds[key] if q not in depth]
            if waiting:
                todo.extend(waiting)
            else:
                depth[key] = max((depth[q] + 1 for q in preds[key]), default=0)
                todo.pop()
    columns: dict[int, list[GraphNode]] = {}
    for n in nodes:
        columns.setdefault(depth[n.key], []).append(n)
    rows: dict[str, float] = {}
    for d in sorted(columns):
        col = columns[d]
        if d > 0:
            col.sort(
                key=lambda n: (
                    sum(rows.get(p, 0.0) for p in preds[n.key]) / max(len(preds[n.key]), 1)
                )
            )
        for i, n in enumerate(col):
            rows[n.key] = float(i)
            n.x = 8 + d * (NODE_W + GAP_X)
            n.y = 8 + i * (NODE_H + GAP_Y)
    width = 16 + (max(columns, default=0) + 1) * (NODE_W + GAP_X) - GAP_X
    height = 16 + max((len(c) for c in columns.values()), default=1) * (NODE_H + GAP_Y) - GAP_Y
    return Graph(
        nodes=list(nodes),
        edges=[(by_key[a], by_key[b], r) for a, b, r in kept],
        width=width,
        height=height,
    )
