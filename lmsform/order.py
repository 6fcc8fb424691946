"""Execution order: a stable topological sort of operations over their dependencies."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import TypeVar

from lmsform.errors import LmsformError

T = TypeVar("T", bound=Hashable)


def topological(
    nodes: Iterable[T],
    depends_on: Mapping[T, Iterable[T]],
    priority: Callable[[T], tuple],
) -> list[T]:
    """Every node after all it depends on; among the ready ones, lowest priority first.

    Dependencies on nodes that are not in `nodes` are ignored (they need no operation).
    """
    nodes = list(nodes)
    present = set(nodes)
    waiting = {n: {d for d in depends_on.get(n, ()) if d in present and d != n} for n in nodes}
    dependents: dict[T, list[T]] = {n: [] for n in nodes}
    for node, deps in waiting.items():
        for dep in deps:
            dependents[dep].append(node)
    ready = [(priority(n), i, n) for i, n in enumerate(nodes) if not waiting[n]]
    heapq.heapify(ready)
    index = {n: i for i, n in enumerate(nodes)}
    out: list[T] = []
    while ready:
        _, _, node = heapq.heappop(ready)
        out.append(node)
        for child in dependents[node]:
            waiting[child].discard(node)
            if not waiting[child]:
                heapq.heappush(ready, (priority(child), index[child], child))
    if len(out) != len(nodes):
        stuck = sorted(str(n) for n in nodes if waiting[n])[:5]
        raise LmsformError(f"operations depend on each other in a cycle: {', '.join(stuck)}")
    return out
