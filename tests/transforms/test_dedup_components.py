"""Distributed connected components (large-star / small-star) against union-find, in memory and on the
DirectRunner, including a long path that needs several rounds."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from ccrefine.pipelines.stats import counters_by_stage
from ccrefine.transforms.dedup.connected_components import (
    components_by_union_find,
    components_in_memory,
    large_star,
    small_star,
    star_decision,
)
from ccrefine.transforms.dedup.ptransforms import ConnectedComponents, rounds_from_counters
from hypothesis import given, settings
from hypothesis import strategies as st

IN_MEMORY = ["--direct_running_mode", "in_memory", "--direct_num_workers", "1"]
EDGES = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)).filter(lambda e: e[0] != e[1]), max_size=60)


@settings(max_examples=200, deadline=None)
@given(EDGES)
def test_star_rounds_find_the_same_components_as_union_find(edges):
    found, _ = components_in_memory(edges)
    assert found == components_by_union_find(edges)


def test_steps_on_one_node():
    assert sorted(large_star(5, [7, 3, 9, 7])[0]) == [(7, 3), (9, 3)] and large_star(5, [7, 3])[1]
    edges, changed = large_star(3, [7, 9])
    assert sorted(edges) == [(7, 3), (9, 3)] and not changed  # already the centre: nothing changes
    edges, changed = small_star(9, [2, 4, 12])
    assert sorted(edges) == [(4, 2), (9, 2)] and changed
    assert small_star(9, [2, 12]) == ([(9, 2)], False)
    assert star_decision(9, [2, 2]) == ("duplicate", 2)
    assert star_decision(2, [9, 4, 9]) == ("kept", 3)


def test_a_long_path_needs_several_rounds_and_reports_them():
    path = [(i, i + 1) for i in range(64)]
    _, rounds = components_in_memory(path)
    assert rounds >= 3


def run_components(edges, max_rounds):
    pipeline = TestPipeline(argv=IN_MEMORY)
    decisions = pipeline | beam.Create(edges) | ConnectedComponents(max_rounds, namespace="cc_test")
    expected = components_by_union_find(edges)
    sizes = {}
    for centre in expected.values():
        sizes[centre] = sizes.get(centre, 0) + 1
    wanted = [(node, ("kept", sizes[node]) if centre == node else ("duplicate", centre))
              for node, centre in expected.items()]
    assert_that(decisions, equal_to(wanted))
    result = pipeline.run()
    result.wait_until_finish()
    return rounds_from_counters(counters_by_stage(result).get("cc_test", {}), max_rounds)


def test_beam_components_match_union_find_and_count_rounds():
    # a shuffled path of 40 nodes, two stars joined through a leaf, and a separate pair
    path = [((i * 7) % 41, ((i + 1) * 7) % 41) for i in range(40)]
    edges = path + [(100, 101), (100, 102), (103, 102), (103, 104), (200, 201)]
    rounds = run_components(edges, max_rounds=8)
    assert rounds["converged"] and 2 <= rounds["rounds_changed"] < 8
    assert len(rounds["nodes_changed_per_round"]) == 8
