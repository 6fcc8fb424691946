"""Operation order: dependencies always first, whatever the graph."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmsform.errors import LmsformError
from lmsform.order import DependencyWalk, topological


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


def _walked(nodes: list[int], deps: dict[int, set[int]], priority) -> list[int]:
    """The order `topological` must give, found the slow way: again and again, of the nodes
    whose dependencies are all placed, the lowest priority (ties: the order given)."""
    out: list[int] = []
    while len(out) < len(nodes):
        ready = [(priority(n), i, n) for i, n in enumerate(nodes) if n not in out
                 and all(d in out or d not in nodes for d in deps.get(n, ()))]
        out.append(min(ready)[2])
    return out


@given(dags(), st.randoms(), st.booleans())
def test_the_order_is_the_walks_whether_or_not_priorities_follow_dependencies(
        graph, rnd, following) -> None:
    """`topological` sorts by priority when every dependency has a lower one (as in a plan)
    and walks otherwise (`DependencyWalk`); either way the order is the one that always
    takes the lowest-priority ready node, ties kept as given."""
    nodes, deps = graph
    # a node's number is a priority every dependency is below; or random ones, with ties
    weights = {n: n // 2 if following else rnd.randrange(5) for n in nodes}
    order = topological(nodes, deps, priority=lambda n: (weights[n],))
    assert order == _walked(nodes, deps, lambda n: (weights[n],))


@given(dags())
def test_a_walk_without_priorities_takes_the_ready_nodes_in_the_order_given(graph) -> None:
    """As apply walks a plan: its operations' order is their priority. The nodes are text,
    as addresses are, so that a node is never mistaken for its position."""
    numbers, numbered_deps = graph
    nodes = [f"op{n}" for n in numbers]
    deps = {f"op{n}": {f"op{d}" for d in needs} for n, needs in numbered_deps.items()}
    walk = DependencyWalk(nodes, deps)
    out: list[str] = []
    while walk.has_ready():
        peeked, popped = walk.peek(), walk.pop()
        assert peeked == popped
        out.append(popped)
        walk.done(popped)
    assert out == _walked(nodes, deps, priority=lambda n: 0)
