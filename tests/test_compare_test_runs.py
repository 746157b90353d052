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
