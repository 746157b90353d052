"""Compare two pytest ``--durations=0`` outputs test by test.

The suite's wall time grows when tests are added; whether the code under test
got slower is a question about the tests both runs have.  This script reads
two logs of ``pytest --durations=0`` (``make test DURATIONS=0``), matches the
test ids present in both, and prints the summed setup + call + teardown time of
the shared tests, of the tests only in the first and only in the second run.

    python benchmarks/compare_test_durations.py OLD.log NEW.log
"""
import collections
import re
import sys

_LINE = re.compile(r"^\s*([\d.]+)s (setup|call|teardown)\s+(\S+)")


def read(path):
    """{test id: seconds (setup + call + teardown)} from a ``--durations=0`` log."""
    times = collections.defaultdict(float)
    with open(path) as file:
        for line in file:
            match = _LINE.match(line)
            if match:
                times[match.group(3)] += float(match.group(1))
    return dict(times)


def compare(old, new):
    shared = sorted(set(old) & set(new))
    return {"shared_tests": len(shared),
            "shared_old_s": sum(old[t] for t in shared),
            "shared_new_s": sum(new[t] for t in shared),
            "only_old": len(set(old) - set(new)),
            "only_old_s": sum(old[t] for t in set(old) - set(new)),
            "only_new": len(set(new) - set(old)),
            "only_new_s": sum(new[t] for t in set(new) - set(old))}


if __name__ == "__main__":
    result = compare(read(sys.argv[1]), read(sys.argv[2]))
    for key, value in result.items():
        print(f"{key:14s} {value:.1f}" if isinstance(value, float) else f"{key:14s} {value}")
    print(f"ratio new/old on the shared tests: "
          f"{result['shared_new_s'] / result['shared_old_s']:.3f}")
