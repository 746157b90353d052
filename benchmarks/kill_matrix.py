"""Kill -9 at random moments of a deterministic CLI run: every resume completes and
ends bit-identical to the uninterrupted run (issue 30's acceptance).

One uninterrupted ``keras-contrastive pretrain --deterministic --resume DIR
--backup-steps N --save-model ref.keras`` run is the reference; its training
time ``T`` (from its "Pretraining ..." line to its "Evaluating the pretrained
encoder" line) bounds the kill moments.  Then the same command is started
again and again over one backup folder, each process SIGKILLed at a random
moment of its training (a kill before training leaves nothing to resume):

* ``write`` kills (the odd ones): after a delay drawn uniformly from
  ``[0, T]`` past the process's "Pretraining" line, at the first sight of a
  backup being written by it (a ``.tmp-<pid>-`` file in the backup folder,
  polled every millisecond), so the process dies inside a backup write;
* ``time`` kills (the even ones): after such a delay.

A process that ends before its kill has finished the run: its saved weights
are compared with the reference and the next kill starts a new run (a fresh
backup folder).  After ``--kills`` kills the last run is resumed to its end.
Every completed run's weights (every array of the ``.keras`` file's
``model.weights.h5``) must equal the reference's bit for bit, and every
process that was not killed must exit 0.

    python benchmarks/kill_matrix.py [--kills 20] [--seed 0] [--log FILE.json]
        [--max-delay S] [--after-step K] [--backup-steps 2]
        [CLI flags: --method simclr --epochs 2 --train-subset 256 ...]

Prints one line per process and a Markdown table; writes the JSON log
(``--log``); exits 1 if a resume failed or a run's weights differ.
"""
import argparse
import hashlib
import io
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAINING, TRAINED = "Pretraining ", "Evaluating the pretrained encoder"


def weights_of(keras_file):
    """``{path: array}`` of every dataset in a ``.keras`` file's ``model.weights.h5``."""
    import h5py
    import numpy as np

    with zipfile.ZipFile(keras_file) as archive:
        data = archive.read("model.weights.h5")
    arrays = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        f.visititems(lambda name, item: arrays.__setitem__(name, np.asarray(item))
                     if isinstance(item, h5py.Dataset) else None)
    return arrays


def differences(got, expected):
    """Names of the arrays that differ (bit for bit) or are missing on either side."""
    names = sorted(set(got) | set(expected))
    return [name for name in names if name not in got or name not in expected
            or got[name].shape != expected[name].shape
            or got[name].tobytes() != expected[name].tobytes()]


def digest(arrays):
    return hashlib.sha256(b"".join(arrays[k].tobytes() for k in sorted(arrays))).hexdigest()[:16]


def command(flags, backup_dir, model_file):
    return [sys.executable, "-m", "keras_contrastive.cli", "pretrain", "--deterministic",
            "--resume", backup_dir, "--save-model", model_file, *flags]


def start(flags, backup_dir, model_file, log_file):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(command(flags, backup_dir, model_file), stdout=log_file,
                            stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def backups_in(folder):
    """The optimizer steps of the complete backups in ``folder`` (their records)."""
    if not os.path.isdir(folder):
        return []
    return sorted(int(n[len("backup-"):-len(".json")]) for n in os.listdir(folder)
                  if n.startswith("backup-") and n.endswith(".json"))


def writing(folder, pid):
    """Whether process ``pid`` is writing a backup file in ``folder`` now."""
    prefix = f".tmp-{pid}-"
    return os.path.isdir(folder) and any(n.startswith(prefix) for n in os.listdir(folder))


def said(path, text):
    with open(path, errors="replace") as f:
        return text in f.read()


def wait_for(process, path, text):
    """Seconds until ``text`` appears in the process's output (None if it exits first)."""
    begin = time.monotonic()
    while not said(path, text):
        if process.poll() is not None:
            return None
        time.sleep(0.01)
    return time.monotonic() - begin


def run_to_kill(process, output, delay, kind, backup_dir, after_step=0):
    """Waits for training to start (and a backup of step ``after_step`` or later),
    ``delay`` s more (and, for ``write``, a backup write of the process in
    progress), then SIGKILLs ``process``; returns ``(killed, inside_write)``."""
    if wait_for(process, output, TRAINING) is None:
        return False, False
    while max(backups_in(backup_dir), default=0) < after_step:
        if process.poll() is not None:
            return False, False
        time.sleep(0.001)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False, False
        time.sleep(0.005)
    if kind == "write":
        while not writing(backup_dir, process.pid):
            if process.poll() is not None:
                return False, False
            time.sleep(0.001)
    inside = writing(backup_dir, process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True, inside


def tail(path, lines=15):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--log", help="write the JSON log here")
    parser.add_argument("--workdir", help="keep the runs' files here (default: a temp folder)")
    parser.add_argument("--backup-steps", type=int, default=2)
    parser.add_argument("--max-delay", type=float,
                        help="draw the kill moments from [0, this] s (default: the "
                        "reference's training time)")
    parser.add_argument("--after-step", type=int, default=0,
                        help="a kill waits for a backup of this step or later first")
    args, flags = parser.parse_known_args(argv)
    defaults = {"--method": "simclr", "--epochs": "2", "--batch-size": "32", "--width": "2",
                "--train-subset": "256", "--eval-train-subset": "64",
                "--eval-test-subset": "32", "--seed": "0"}
    for flag, value in defaults.items():
        if flag not in flags:
            flags += [flag, value]
    flags += ["--backup-steps", str(args.backup_steps)]
    rng = random.Random(args.seed)
    work = args.workdir or tempfile.mkdtemp(prefix="kill_matrix_")
    os.makedirs(work, exist_ok=True)
    log = {"command": command(flags, "BACKUP_DIR", "MODEL.keras")[1:], "kills": args.kills,
           "seed": args.seed, "max_delay": args.max_delay, "after_step": args.after_step, "python": platform.python_version(),
           "machine": platform.machine(), "cpus": os.cpu_count(), "processes": []}

    started = time.monotonic()
    reference_file, output = (os.path.join(work, name) for name in ("reference.keras",
                                                                      "reference.log"))
    with open(output, "w") as out:
        process = start(flags, os.path.join(work, "reference_backup"), reference_file, out)
        before_training = wait_for(process, output, TRAINING)
        training_seconds = wait_for(process, output, TRAINED)
        code = process.wait()
    reference_seconds = time.monotonic() - started
    if code != 0 or training_seconds is None:
        print(tail(output), file=sys.stderr)
        raise SystemExit(f"the reference run failed (exit {code})")
    reference = weights_of(reference_file)
    log.update(reference_seconds=round(reference_seconds, 1),
               reference_training_seconds=round(training_seconds, 1),
               reference_seconds_before_training=round(before_training, 1),
               reference_digest=digest(reference))
    print(f"reference: {reference_seconds:.1f} s ({before_training:.1f} s before training, "
          f"{training_seconds:.1f} s training), {len(reference)} arrays, "
          f"digest {digest(reference)}")

    failures, kills, run, number = [], 0, 1, 0
    while True:
        number += 1
        backup_dir = os.path.join(work, f"run{run}_backup")
        model_file = os.path.join(work, f"run{run}.keras")
        output = os.path.join(work, f"process{number}.log")
        before = backups_in(backup_dir)
        kind = "time" if kills % 2 else "write"
        span = training_seconds if args.max_delay is None else args.max_delay
        delay = rng.uniform(0, span) if kills < args.kills else float("inf")
        begin = time.monotonic()
        with open(output, "w") as out:
            process = start(flags, backup_dir, model_file, out)
            if kills < args.kills:
                killed, inside = run_to_kill(process, output, delay, kind, backup_dir,
                                             args.after_step)
            else:
                process.wait()
                killed, inside = False, False
        entry = {"process": number, "run": run, "backups_before": before,
                 "seconds": round(time.monotonic() - begin, 2), "killed": killed}
        if killed:
            kills += 1
            entry.update(kill=kills, kind=kind, delay=round(delay, 2), inside_write=inside,
                         backups_after=backups_in(backup_dir))
            print(f"process {number}: kill {kills} ({kind}) {delay:.1f} s into training"
                  f"{', inside a backup write' if inside else ''}; backups "
                  f"{before} -> {entry['backups_after']}")
        else:
            entry["exit_code"] = process.returncode
            if process.returncode != 0:
                failures.append(f"process {number} exited {process.returncode}: "
                                f"{tail(output)}")
                entry["error"] = tail(output)
            else:
                different = differences(weights_of(model_file), reference)
                entry.update(identical=not different, differing=different[:5],
                             digest=digest(weights_of(model_file)))
                if different:
                    failures.append(f"run {run}: {len(different)} arrays differ, e.g. "
                                    f"{different[:3]}")
            print(f"process {number}: run {run} finished (exit {process.returncode}), "
                  f"weights {'identical' if entry.get('identical') else 'DIFFERENT'}")
            run += 1
        log["processes"].append(entry)
        if not killed and kills >= args.kills:
            break
        if not killed and process.returncode != 0:
            break

    finished = [p for p in log["processes"] if not p["killed"]]
    log.update(total_seconds=round(time.monotonic() - started, 1), failures=failures,
               runs_completed=len(finished),
               runs_identical=sum(bool(p.get("identical")) for p in finished),
               kills_inside_writes=sum(bool(p.get("inside_write")) for p in log["processes"]))
    print()
    print("| process | run | kill | kind | moment (s into training) | inside a write | backups before -> after "
          "| outcome |")
    print("|---|---|---|---|---|---|---|---|")
    for p in log["processes"]:
        if p["killed"]:
            print(f"| {p['process']} | {p['run']} | {p['kill']} | {p['kind']} | {p['delay']} | "
                  f"{'yes' if p['inside_write'] else 'no'} | {p['backups_before']} -> "
                  f"{p['backups_after']} | killed |")
        else:
            outcome = ("identical" if p.get("identical") else
                       f"exit {p['exit_code']}" if p["exit_code"] else "DIFFERENT")
            print(f"| {p['process']} | {p['run']} | | | | | {p['backups_before']} | "
                  f"finished: {outcome} |")
    print(f"\n{kills} kills ({log['kills_inside_writes']} inside backup writes), "
          f"{log['runs_identical']}/{log['runs_completed']} completed runs bit-identical to "
          f"the reference; {log['total_seconds']} s")
    if args.log:
        with open(args.log, "w") as f:
            json.dump(log, f, indent=1)
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
