"""Where a ``make test DURATIONS=0`` run's test time goes, by kind of test.

    python benchmarks/suite_time.py benchmarks/results/test_durations_2fd66f8_2026-12-06.txt

Each test (setup + call + teardown) counts once, in the first kind of ``KINDS``
whose pattern its id matches; the rest are "other".  Also: the time of the tests
at or over ``--slow`` seconds (``make test-quick`` leaves those out, see
tests/conftest.py) and the wall time the summed test time implies on ``--workers``
busy processes.
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_test_runs import durations, per_test  # noqa: E402

#: (kind, pattern of test ids): the acceptance checks the standards and other issues
#: ask for, in the order a test is counted
KINDS = (
    ("learning on real images (a method's loss falls, no collapse)",
     r"loss_falls|learns|_learn|collapse|below_chance|classes_separate|beats"),
    ("2-replica step equals 1-replica step", r"two_replica|replica_step|replicas"),
    ("recipes and notebooks", r"tests/recipes/|test_notebook"),
    ("whole programs in processes (README example, kill/resume, memory, wheel, CLI, "
     "multi-worker, newcomer)",
     r"test_readme|kill|memory_stays|test_packaging|test_cli|test_newcomer|test_multi_worker"),
    ("docstring examples", r"test_docstrings"),
    ("serialisation round trips", r"round_trip|save_and_load|serializ|survives"),
    ("mixed precision", r"mixed_precision"),
)


def by_kind(seconds_by_test, kinds=KINDS):
    """``[(kind, seconds, tests)]`` in ``kinds``' order, then ``("other", ...)``."""
    rows, counted = [], set()
    for kind, pattern in kinds:
        chosen = [t for t in seconds_by_test if t not in counted and re.search(pattern, t)]
        counted.update(chosen)
        rows.append((kind, sum(seconds_by_test[t] for t in chosen), len(chosen)))
    rest = [t for t in seconds_by_test if t not in counted]
    rows.append(("other", sum(seconds_by_test[t] for t in rest), len(rest)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("listing", help="a `make test DURATIONS=0` run's output")
    parser.add_argument("--slow", type=float, default=3.0, help="seconds that make a test slow")
    parser.add_argument("--workers", type=int, default=2, help="pytest processes of the run")
    args = parser.parse_args(argv)
    seconds = per_test(durations(args.listing))
    total = sum(seconds.values())
    print(f"{'kind':<100} {'seconds':>8} {'share':>6} {'tests':>6}")
    for kind, value, count in by_kind(seconds):
        print(f"{kind:<100} {value:8.1f} {value / total:6.1%} {count:6d}")
    print(f"{'every test listed':<100} {total:8.1f} {1:6.1%} {len(seconds):6d}")
    slow = [value for value in seconds.values() if value >= args.slow]
    print(f"tests of {args.slow:g} s or more: {len(slow)}, {sum(slow):.1f} s "
          f"({sum(slow) / total:.1%}); the others: {total - sum(slow):.1f} s")
    print(f"summed test time / {args.workers} workers: {total / args.workers:.0f} s of wall time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
