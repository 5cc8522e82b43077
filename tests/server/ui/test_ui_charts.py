"""Series reduction for charts (first, min, max, last per bucket) and the graph layout."""

from __future__ import annotations

import numpy as np

from setpoint.server.ui.charts import GraphNode, layout, reduce_series


def test_a_million_points_keep_their_shape_in_a_few_thousand() -> None:
    n = 1_000_000
    x = np.arange(n)
    y = np.sin(x / 5000.0)
    y[333_333] = 25.0  # one spike
    y[777_777] = -30.0  # one dip
    rx, ry = reduce_series(x, y, 1000)
    assert len(rx) <= 4 * 1000
    assert ry.max() == 25.0 and ry.min() == -30.0  # plain sampling would lose both
    assert 333_333 in rx and 777_777 in rx
    assert np.all(np.diff(rx) > 0)  # in order, so a line through them is the curve
    assert rx[0] == 0 and rx[-1] == n - 1
    # every bucket's own extremes are there: the envelope matches the full series
    edges = np.linspace(0, n, 1001)
    for lo, hi in zip(edges[::97], edges[1::97], strict=False):
        full = y[int(lo) : int(hi)]
        part = ry[(rx >= int(lo)) & (rx < int(hi))]
        assert part.max() == full.max() and part.min() == full.min()


def test_short_series_pass_through_and_nan_breaks_the_line() -> None:
    rx, ry = reduce_series([0, 1, 2], [1.0, float("nan"), 3.0], 100)
    assert rx.tolist() == [0, 1, 2] and np.isnan(ry[1])
    x = np.arange(10_000)
    y = np.ones(10_000)
    y[5000] = np.nan
    rx, ry = reduce_series(x, y, 100)
    assert np.isnan(ry[rx == 5000]).all() and (rx == 5000).any()


def test_unordered_steps_are_sorted() -> None:
    x = np.array([5, 3, 1, 2, 4] * 2000) + np.repeat(np.arange(2000) * 10, 5)
    y = x.astype(float)
    rx, ry = reduce_series(x, y, 50)
    assert np.all(np.diff(rx) >= 0)
    assert ry.max() == y.max() and ry.min() == y.min()


def test_layout_puts_each_node_right_of_its_inputs() -> None:
    nodes = [GraphNode(key=k, label=k, kind="run") for k in ("load", "train", "evaluate", "cut")]
    edges = [("load", "train", ""), ("train", "evaluate", ""), ("load", "evaluate", "")]
    g = layout(nodes, [*edges, ("evaluate", "load", "cycle"), ("load", "ghost", "")])
    pos = {n.key: n for n in g.nodes}
    assert pos["load"].x < pos["train"].x < pos["evaluate"].x
    assert len(g.edges) == 4  # the edge to an unknown node is dropped, the cycle kept drawn
    assert g.width > pos["evaluate"].x and g.height > max(n.y for n in g.nodes)
