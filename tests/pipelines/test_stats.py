"""The retention funnel adds up, and says where it does not."""

from ccrefine.pipelines.stats import build_funnel, cross_check, metrics_or_none


def test_funnel_rows_and_totals():
    counters = {
        "read": {"kept": 8, "dropped.request": 10, "dropped.errors.truncated": 1, "files": 2},
        "extract": {"kept": 7, "dropped.empty": 1},
    }
    funnel = build_funnel(counters, ["read", "extract"])
    assert funnel["stages"][0] == {"stage": "read", "in": 19, "kept": 8, "files": 2,
                                   "dropped": {"errors.truncated": 1, "request": 10}}
    assert funnel["records_in"] == 19 and funnel["documents_out"] == 7 and funnel["dropped_total"] == 12
    assert funnel["problems"] == []


def test_a_leak_between_stages_is_reported():
    funnel = build_funnel({"read": {"kept": 8}, "extract": {"kept": 5}}, ["read", "extract"])
    assert funnel["problems"] and "read kept 8 but extract received 5" in funnel["problems"][0]


def test_beam_counters_that_disagree_with_the_written_rows_are_problems():
    written = {"read": {"kept": 8, "dropped.request": 10}, "extract": {"kept": 7, "dropped.empty": 1}}
    assert cross_check(written, written, ["read", "extract"]) == []
    metrics = {"read": {"kept": 8, "dropped.request": 9}, "extract": {"kept": 7, "dropped.empty": 1}}
    assert cross_check(written, metrics, ["read", "extract"]) == ["read.dropped.request: 10 written but Beam counted 9"]


class _NoMetricsResult:
    """What Beam's DaskRunner returns: a result whose metrics() is not implemented."""

    def metrics(self):
        raise NotImplementedError("metrics are not supported")


def test_a_runner_without_metrics_is_not_an_error():
    assert metrics_or_none(_NoMetricsResult()) is None
