"""Connected components by alternating large-star and small-star steps (Kiveris et al., "Connected Components in
MapReduce and Beyond", SoCC 2014): the pure per-node steps that a Beam round applies after grouping edges by node.

Nodes are any totally ordered keys (here `(rank, document id)`, so the smallest node of a component is the document
the keep rule prefers). Each step looks at one node and its neighbours only, so no worker ever holds more than one
node's neighbourhood; the graph converges to one star per component whose centre is the component's smallest node,
in O(log^2 n) rounds (in practice a handful). A round that changes nothing on any node proves convergence.

Every edge is handled at exactly one endpoint in each step (large-star at the smaller one, small-star at the larger
one), so a step's output is the whole new edge set without duplicates beyond what a node deduplicates locally.
"""

from __future__ import annotations

from collections.abc import Iterable


def large_star(node, neighbors: Iterable) -> tuple[list[tuple], bool]:
    """Connect every larger neighbour of `node` to the smallest node of its neighbourhood.

    Returns the new undirected edges (each once) and whether this node changed the graph."""
    unique = set(neighbors)
    unique.discard(node)
    smallest = min(unique, default=node)
    smallest = min(smallest, node)
    edges = [(neighbor, smallest) for neighbor in unique if neighbor > node]
    return edges, bool(edges) and smallest != node


def small_star(node, neighbors: Iterable) -> tuple[list[tuple], bool]:
    """Connect `node` and its smaller neighbours to the smallest of them.

    Returns the new undirected edges (each once) and whether this node changed the graph."""
    smaller = {neighbor for neighbor in neighbors if neighbor < node}
    if not smaller:
        return [], False
    smallest = min(smaller)
    edges = [(member, smallest) for member in smaller if member != smallest]
    edges.append((node, smallest))
    return edges, len(smaller) > 1


def star_decision(node, neighbors: Iterable) -> tuple[str, object]:
    """After the last round: ("duplicate", the smallest neighbour) when a smaller neighbour exists, else ("kept",
    the size of the star it centres). Before convergence this keeps more than one node of a component, never none:
    the component's smallest node has no smaller neighbour."""
    unique = set(neighbors)
    unique.discard(node)
    smaller = min((neighbor for neighbor in unique if neighbor < node), default=None)
    if smaller is not None:
        return "duplicate", smaller
    return "kept", len(unique) + 1


def components_in_memory(edges: Iterable[tuple], max_rounds: int = 64) -> tuple[dict, int]:
    """The same rounds on one machine, for tests and benchmarks: ({node: smallest node of its component}, rounds
    that changed the graph)."""
    current = list(edges)
    for round_index in range(max_rounds):
        changed = False
        for step in (large_star, small_star):
            neighbors: dict = {}
            for a, b in current:
                neighbors.setdefault(a, []).append(b)
                neighbors.setdefault(b, []).append(a)
            current = []
            for node, adjacent in neighbors.items():
                new_edges, node_changed = step(node, adjacent)
                current.extend(new_edges)
                changed |= node_changed
        if not changed:
            return _centres(current), round_index
    raise RuntimeError(f"no convergence in {max_rounds} rounds")


def _centres(edges: list[tuple]) -> dict:
    neighbors: dict = {}
    for a, b in edges:
        neighbors.setdefault(a, set()).add(b)
        neighbors.setdefault(b, set()).add(a)
    return {node: min(adjacent | {node}) for node, adjacent in neighbors.items()}


def components_by_union_find(edges: Iterable[tuple]) -> dict:
    """Reference: {node: smallest node of its component} by union-find."""
    parent: dict = {}

    def find(node):
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in edges:
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[max(root_a, root_b)] = min(root_a, root_b)
    return {node: find(node) for node in list(parent)}
