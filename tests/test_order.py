"""Operation order: dependencies always first, whatever the graph."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmsform.errors import LmsformError
from lmsform.order import topological


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[int], dict[int, set[int]]]:
    """Random DAGs: a node may only depend on nodes with a smaller number."""
    size = draw(st.integers(min_value=0, max_value=40))
    deps = {
        n: draw(st.sets(st.integers(min_value=0, max_value=n - 1), max_size=5)) if n else set()
        for n in range(size)
    }
    nodes = draw(st.permutations(list(range(size))))
    return nodes, deps


@given(dags(), st.randoms())
def test_every_node_comes_after_its_dependencies(graph, rnd) -> None:
    nodes, deps = graph
    weights = {n: rnd.random() for n in nodes}
    order = topological(nodes, deps, priority=lambda n: (weights[n],))
    assert sorted(order) == sorted(nodes)
    position = {n: i for i, n in enumerate(order)}
    for node, needs in deps.items():
        for dep in needs:
            assert position[dep] < position[node]


def test_priority_decides_among_ready_nodes() -> None:
    order = topological(["b", "a", "c"], {"a": {"c"}}, priority=lambda n: (n,))
    assert order == ["b", "c", "a"]


def test_dependencies_outside_the_set_are_ignored() -> None:
    assert topological(["a"], {"a": {"zzz"}}, priority=lambda n: (n,)) == ["a"]


def test_cycles_are_reported() -> None:
    with pytest.raises(LmsformError, match="cycle"):
        topological(["a", "b"], {"a": {"b"}, "b": {"a"}}, priority=lambda n: (n,))
