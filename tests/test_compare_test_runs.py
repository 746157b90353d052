"""benchmarks/compare_test_runs.py: the machines' ratio from the unchanged tests, and the
changed tests' time at the old machine's speed."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
import compare_test_runs  # noqa: E402


def test_unchanged_tests_give_the_ratio_and_changed_ones_are_scaled_by_it(tmp_path):
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_text("10.00s call     tests/a.py::test_x\n2.00s setup    tests/a.py::test_x\n"
                   "8.00s call     tests/b.py::test_slow[simclr]\n"
                   "1.00s call     tests/c.py::test_gone\nnot a duration line\n")
    new.write_text("20.00s call     tests/a.py::test_x\n4.00s setup    tests/a.py::test_x\n"
                   "6.00s call     tests/b.py::test_slow[simclr]\n"
                   "3.00s call     tests/d.py::test_new\n")
    result = compare_test_runs.compare(compare_test_runs.durations(old),
                                       compare_test_runs.durations(new), ["test_slow"])
    assert result["machine_ratio"] == pytest.approx(2.0)  # 24 s against 12 s
    assert (result["shared"], result["unchanged"], result["changed"]) == (2, 1, 1)
    assert result["changed_new_at_old_speed_s"] == pytest.approx(3.0)  # 6 s on a 2x machine
    assert (result["old_total_s"], result["new_total_s"]) == (21.0, 33.0)


# tests/conftest.py orders and marks the suite by the reference run's listing
from tests.conftest import (REFERENCE_DURATIONS, SLOW_SECONDS, order_by_module_time,  # noqa: E402
                            reference_durations)


class _Item:
    def __init__(self, nodeid):
        self.nodeid = nodeid


def test_modules_run_longest_first_and_keep_their_tests_together():
    items = [_Item(i) for i in ("tests/a.py::x", "tests/a.py::y", "tests/b.py::z",
                                "tests/c.py::new", "tests/d.py::w", "tests/b.py::v")]
    seconds = {"tests/a.py::x": 1.0, "tests/a.py::y": 1.5, "tests/b.py::z": 0.5,
               "tests/b.py::v": 9.0, "tests/d.py::w": 2.5}
    ordered = [item.nodeid for item in order_by_module_time(items, seconds)]
    # b: 9.5 s, a: 2.5 s, d: 2.5 s (a first: ties keep the collection's order), c: unmeasured
    assert ordered == ["tests/b.py::z", "tests/b.py::v", "tests/a.py::x", "tests/a.py::y",
                       "tests/d.py::w", "tests/c.py::new"]


def test_a_tests_reference_time_sums_its_phases_and_a_missing_listing_is_none(tmp_path):
    listing = tmp_path / "durations.txt"
    listing.write_text("4.00s call     tests/a.py::test_x\n0.50s setup    tests/a.py::test_x\n"
                       "0.25s teardown tests/a.py::test_x\n1.00s call     tests/b.py::test_y\n")
    assert reference_durations(str(listing)) == {"tests/a.py::test_x": 4.75,
                                                 "tests/b.py::test_y": 1.0}
    assert reference_durations(str(tmp_path / "none.txt")) == {}


def _marked_slow_in_its_file(item):
    marks = list(getattr(getattr(item, "function", None), "pytestmark", []))
    module_marks = getattr(getattr(item, "module", None), "pytestmark", [])
    marks += module_marks if isinstance(module_marks, list) else [module_marks]
    return any(getattr(mark, "name", None) == "slow" for mark in marks)


def test_this_run_marks_the_reference_runs_slow_tests_and_only_those(request):
    assert os.path.exists(REFERENCE_DURATIONS)
    seconds = reference_durations()
    marked = {item.nodeid: item.get_closest_marker("slow") is not None
              for item in request.session.items}
    readme = "tests/test_readme.py::test_readme_api_example_runs_as_written"
    assert seconds[readme] >= SLOW_SECONDS
    assert marked.get(readme, True)  # marked wherever it is collected
    assert not marked[request.node.nodeid]  # this test: well under a second
    # slow: the reference's slow tests, and the few a test file marks itself (a quick test
    # that reads a module fixture another, slow, test set up in the reference run)
    own = {item.nodeid for item in request.session.items if _marked_slow_in_its_file(item)}
    assert all(is_slow == (seconds.get(nodeid, 0.0) >= SLOW_SECONDS or nodeid in own)
               for nodeid, is_slow in marked.items())
    assert len(own - {n for n, s in seconds.items() if s >= SLOW_SECONDS}) <= 10, own


def test_suite_time_counts_each_test_once_in_its_first_kind():
    import suite_time

    seconds = {"tests/models/test_x.py::test_loss_falls[two_replica]": 5.0,
               "tests/models/test_x.py::test_two_replica_step": 3.0,
               "tests/test_readme.py::test_example": 7.0, "tests/test_y.py::test_z": 1.0}
    kinds = (("learning", r"loss_falls"), ("replicas", r"two_replica"),
             ("processes", r"test_readme"))
    assert suite_time.by_kind(seconds, kinds) == [("learning", 5.0, 1), ("replicas", 3.0, 1),
                                                  ("processes", 7.0, 1), ("other", 1.0, 1)]


def test_a_test_id_with_spaces_is_read_whole(tmp_path):
    listing = tmp_path / "run.txt"
    listing.write_text("1.50s call     tests/a.py::test_x[WebP lossless, 3 channels]\n"
                       "0.50s call     tests/a.py::test_x[WebP lossy, 1 channel]  \n")
    assert compare_test_runs.durations(listing) == {
        ("tests/a.py::test_x[WebP lossless, 3 channels]", "call"): 1.5,
        ("tests/a.py::test_x[WebP lossy, 1 channel]", "call"): 0.5}
