"""Walking operations in dependency order: one routine for planning and applying.

The planner walks the graph one node at a time to fix the plan's order; apply walks the same
kind of graph with many nodes in flight, starting each as soon as what it needs has finished.
Both use `DependencyWalk`, so "ready" means the same thing in the plan a reviewer reads and
in the apply that runs it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from lmsform.errors import LmsformError

T = TypeVar("T", bound=Hashable)


class DependencyWalk(Generic[T]):
    """Nodes become ready once every node they depend on is done; among the ready ones,
    the lowest priority comes first (ties: the order nodes were given in).

    Dependencies on nodes that are not in `nodes` are ignored (they need no operation).
    """

    def __init__(self, nodes: Iterable[T], depends_on: Mapping[T, Iterable[T]],
                 priority: Callable[[T], Any]) -> None:
        self.nodes = list(nodes)
        present = set(self.nodes)
        self._priority = priority
        self._index = {n: i for i, n in enumerate(self.nodes)}
        self._waiting = {n: {d for d in depends_on.get(n, ()) if d in present and d != n}
                         for n in self.nodes}
        self._dependents: dict[T, list[T]] = {n: [] for n in self.nodes}
        for node, deps in self._waiting.items():
            for dep in deps:
                self._dependents[dep].append(node)
        self._ready = [(priority(n), self._index[n], n) for n in self.nodes
                       if not self._waiting[n]]
        heapq.heapify(self._ready)

    def has_ready(self) -> bool:
        return bool(self._ready)

    def peek(self) -> T:
        """The node `pop` would return next."""
        return self._ready[0][2]

    def pop(self) -> T:
        """The next ready node (it stays pending until `done`)."""
        return heapq.heappop(self._ready)[2]

    def done(self, node: T) -> None:
        """`node` finished: whatever waited only on it becomes ready."""
        for child in self._dependents[node]:
            waiting = self._waiting[child]
            waiting.discard(node)
            if not waiting:
                heapq.heappush(self._ready, (self._priority(child), self._index[child], child))

    def stuck(self) -> list[T]:
        """Nodes still waiting on something."""
        return [n for n in self.nodes if self._waiting[n]]


def topological(
    nodes: Iterable[T],
    depends_on: Mapping[T, Iterable[T]],
    priority: Callable[[T], Any],
) -> list[T]:
    """Every node after all it depends on; among the ready ones, lowest priority first.

    Where every dependency has a lower priority than its dependent (as in any plan: a user
    is created after its department, and leaves before it is removed), the lowest-priority
    node left is always ready, so that order is the nodes sorted by priority: one sort,
    checked, instead of a walk through a heap (1.8 s of a 100k-user plan). Otherwise, the
    walk."""
    given = list(nodes)
    ordered = sorted(given, key=priority)  # stable: ties keep the order given, as the walk
    if _respects(ordered, depends_on):
        return ordered
    walk = DependencyWalk(given, depends_on, priority)
    out: list[T] = []
    while walk.has_ready():
        node = walk.pop()
        out.append(node)
        walk.done(node)
    if len(out) != len(walk.nodes):
        stuck = sorted(str(n) for n in walk.stuck())[:5]
        raise LmsformError(f"operations depend on each other in a cycle: {', '.join(stuck)}")
    return out


def _respects(ordered: list[T], depends_on: Mapping[T, Iterable[T]]) -> bool:
    """Whether each node comes after every node it depends on (others ignored, as by the
    walk)."""
    position = {node: i for i, node in enumerate(ordered)}
    return all(position.get(dependency, -1) <= i
               for i, node in enumerate(ordered) for dependency in depends_on.get(node, ()))
