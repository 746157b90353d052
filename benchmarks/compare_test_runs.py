"""Two ``make test DURATIONS=0`` runs compared test by test.

Machines differ from session to session, so two suite wall times are only
comparable through the tests whose code did not change: their summed time
gives the machines' ratio, and the changed tests' time, scaled by it, says
what the change saved.

    python benchmarks/compare_test_runs.py OLD_DURATIONS NEW_DURATIONS \\
        --changed cpu_small_recipe,test_gpu_suite.py::test_smoke

``--changed``: comma-separated substrings of the test ids that the change
touched (every other test both runs have is "unchanged").
"""
import argparse
import re

_LINE = re.compile(r"([\d.]+)s (call|setup|teardown)\s+(.+?)\s*$")


def durations(path):
    """``{(test id, phase): seconds}`` of a ``--durations=0`` listing."""
    found = {}
    with open(path) as f:
        for line in f:
            match = _LINE.match(line)
            if match:
                found[(match.group(3), match.group(2))] = float(match.group(1))
    return found


def per_test(listing):
    """``{test id: seconds}`` of a ``durations`` listing, each test's phases summed."""
    seconds = {}
    for (test_id, _phase), value in listing.items():
        seconds[test_id] = seconds.get(test_id, 0.0) + value
    return seconds


def compare(old, new, changed):
    shared = [key for key in old if key in new]
    touched = [key for key in shared if any(part in key[0] for part in changed)]
    same = [key for key in shared if key not in touched]
    ratio = sum(new[k] for k in same) / sum(old[k] for k in same)
    old_touched, new_touched = sum(old[k] for k in touched), sum(new[k] for k in touched)
    return {"shared": len({k[0] for k in shared}), "unchanged": len({k[0] for k in same}),
            "unchanged_old_s": sum(old[k] for k in same),
            "unchanged_new_s": sum(new[k] for k in same), "machine_ratio": ratio,
            "changed": len({k[0] for k in touched}), "changed_old_s": old_touched,
            "changed_new_s": new_touched, "changed_new_at_old_speed_s": new_touched / ratio,
            "old_total_s": sum(old.values()), "new_total_s": sum(new.values())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--changed", default="", help="substrings of the changed tests' ids")
    args = parser.parse_args(argv)
    result = compare(durations(args.old), durations(args.new),
                     [part for part in args.changed.split(",") if part])
    for name, value in result.items():
        print(f"{name:28s} {value:.3f}" if isinstance(value, float) else f"{name:28s} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
