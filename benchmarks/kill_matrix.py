"""Kill -9 at random training steps of a deterministic CLI run: every resume completes
and ends bit-identical to the uninterrupted run (issue 30's acceptance).

One uninterrupted ``keras-contrastive pretrain --deterministic --resume DIR
--backup-steps N --save-model ref.keras`` run is the reference.  Its backup
folder is watched while it runs: the moment each backup record appears gives
its time per step (between backup records), the time of its first step
(tracing included), and the time from its end of training to its "model
saved to" line (the final evaluation and the save); every later process's
folder and output are watched the same way, and the estimates follow them
(the latest first step, the median of the last 8 step times), so that the
kill moments follow the machine's load.  Then runs
of the same command are started over one backup folder each, every run
killed ``--kills-per-run`` times: its kill steps are drawn uniformly (with
replacement) from ``1 ... total + 1`` (``total`` = epochs x steps per epoch;
``total + 1``: after training) and taken in increasing order, one process
each.  Each process resumes from the folder's newest backup (step ``r``, 0
if none) and is SIGKILLed in its step ``s`` (``r + 1`` if the draw is not
past ``r``):

* ``write`` kills (the odd ones): once the process has written the backup
  before step ``s`` (its record seen in the folder; the process's
  "Pretraining" line if that backup is ``r``), at the first sight of a
  backup being written by it (a ``.tmp-<pid>-`` file, polled every
  millisecond): it dies inside the write of the first backup after step
  ``s - 1``; a write kill drawn after training dies in step ``total``'s;
* ``time`` kills (the even ones): at a moment drawn uniformly inside step
  ``s``, timed from the last backup record before it (from the "Pretraining"
  line if none is new) with the estimated step times; ``s = total + 1``
  is a kill after training, at a moment drawn over the estimated final
  evaluation and save, which the next process must resume with no step left
  to train.

A process that ends before its kill has finished the run: its saved weights
are compared with the reference and the next kill starts a new run (a fresh
backup folder).  After ``--kills`` kills the last run is resumed to its end.
Every completed run's weights (every array of the ``.keras`` file's
``model.weights.h5``) must equal the reference's bit for bit, and every
process that was not killed must exit 0.  A kill "resumes from a backup" when
the folder holds a complete backup after it (the next process starts there);
it "landed late" when a backup of its drawn step or later was already
complete (a time kill timed from the "Pretraining" line that a faster
process outran), or, drawn after training, when the outputs were already
written and the folder deleted.

    python benchmarks/kill_matrix.py [--kills 20] [--seed 0] [--log FILE.json]
        [--kills-per-run 4] [--at-step S] [--backup-steps 2] [--table LOG.json]
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
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAINING, TRAINED = "Pretraining ", "Evaluating the pretrained encoder"
SAVED = "model saved to"


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


def wait_until(process, ready, poll=0.001):
    """Polls ``ready()`` until true (True) or until the process exits (False)."""
    while not ready():
        if process.poll() is not None:
            return False
        time.sleep(poll)
    return True


def wait_for(process, path, text):
    """Seconds until ``text`` appears in the process's output (None if it exits first)."""
    begin = time.monotonic()
    if not wait_until(process, lambda: said(path, text), poll=0.01):
        return None
    return time.monotonic() - begin


class Watcher(threading.Thread):
    """Notes in the background when a process's "Pretraining", "Evaluating the
    pretrained encoder" and "model saved to" lines and each new backup record in
    its folder appear: ``seen`` = ``{"training": t, "records": {step: t},
    "trained": t, "saved": t, "end": t}``, seconds from the start (``end``: at
    ``stop()``, called once the process has ended)."""

    def __init__(self, output, backup_dir):
        super().__init__(daemon=True)
        self.output, self.backup_dir = output, backup_dir
        self.begin, self.known = time.monotonic(), set(backups_in(backup_dir))
        self.seen, self.done = {"records": {}}, threading.Event()

    def poll(self):
        now = time.monotonic() - self.begin
        for step in backups_in(self.backup_dir):
            if step not in self.known:
                self.seen["records"].setdefault(step, now)
        for key, text in (("training", TRAINING), ("trained", TRAINED), ("saved", SAVED)):
            if key not in self.seen and said(self.output, text):
                self.seen[key] = now

    def run(self):
        while not self.done.is_set():
            self.poll()
            time.sleep(0.002)

    def stop(self):
        self.done.set()
        self.join()
        self.poll()
        self.seen["end"] = time.monotonic() - self.begin
        return self.seen


class Timing:
    """The time of a first step (tracing included), of a later step and of the final
    evaluation and save: the reference's at first, then learnt from each process
    (the latest first step, the median of the last 8 step times seen between
    backup records), so that the kill moments follow the machine's load."""

    def __init__(self, seen):
        self.first, self.steps, self.after = None, [], None
        self.learn(seen, 0)

    @property
    def step(self):
        return statistics.median(self.steps[-8:]) if self.steps else 0.1

    def learn(self, seen, resumed):
        records = sorted(seen["records"])
        self.steps += [(seen["records"][b] - seen["records"][a]) / (b - a)
                       for a, b in zip(records, records[1:])]
        if records and "training" in seen:
            self.first = max(seen["records"][records[0]] - seen["training"]
                             - (records[0] - resumed - 1) * self.step, self.step)
        if "trained" in seen and "saved" in seen:
            self.after = seen["saved"] - seen["trained"]

    def now(self):
        """``(first, step, after)`` seconds."""
        return self.first, self.step, self.after


def kill_moment(process, output, backup_dir, step, resumed, total, backup_steps, times,
                kind, rng):
    """Waits until process is inside training step ``step`` (1-based; ``total + 1``:
    after training) -- for ``write``, until its next backup write has begun -- and
    SIGKILLs it; returns ``(killed, inside_write)``."""
    first, per_step, after = times
    if not wait_until(process, lambda: said(output, TRAINING), poll=0.005):
        return False, False
    if step > total:  # after training: in the evaluation or the saving
        if not wait_until(process, lambda: said(output, TRAINED), poll=0.005):
            return False, False
        wait = rng.uniform(0, after)
    else:
        before = backup_steps * ((step - 1) // backup_steps)  # the backup before the step
        if before > resumed:  # written by this process: wait for its record
            if not wait_until(process, lambda: max(backups_in(backup_dir), default=0) >= before):
                return False, False
            wait = (step - 1 - before + rng.random()) * per_step
        else:  # timed from the "Pretraining" line: the first step traces
            j = step - resumed
            wait = rng.random() * first if j == 1 else first + (j - 2 + rng.random()) * per_step
    if kind == "write":
        wait = 0.0
    deadline = time.monotonic() + wait
    if not wait_until(process, lambda: time.monotonic() >= deadline):
        return False, False
    if kind == "write" and not wait_until(process, lambda: writing(backup_dir, process.pid)):
        return False, False
    inside = writing(backup_dir, process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True, inside


def tail(path, lines=15):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def landed(p, total):
    """Where a kill landed, from the backups it left: ``"as drawn"``, or ``"late"``
    when a backup of the drawn step or later was complete at the kill (the step had
    ended) or, drawn after training, the outputs were written (the folder deleted)."""
    after = max(p["backups_after"], default=None)
    if p["step"] > total:
        return "late" if after is None else "as drawn"
    return "late" if after is not None and after >= p["step"] else "as drawn"


def report(log):
    """The log's Markdown table of processes and its summary line."""
    total = log["total_steps"]
    killed = [p for p in log["processes"] if p["killed"]]
    lines = ["| process | run | kill | kind | step drawn | landed | inside a write | "
             "backups before -> after | outcome |", "|---|---|---|---|---|---|---|---|---|"]
    for p in log["processes"]:
        if p["killed"]:
            where = "after training" if p["step"] > total else f"{p['step']}/{total}"
            outcome = (f"killed; resumes from step {p['resumes_from']}"
                       if p["resumes_from"] is not None else "killed; starts over")
            lines.append(f"| {p['process']} | {p['run']} | {p['kill']} | {p['kind']} | {where} | "
                         f"{landed(p, total)} | {'yes' if p['inside_write'] else 'no'} | "
                         f"{p['backups_before']} -> {p['backups_after']} | {outcome} |")
        else:
            outcome = ("identical" if p.get("identical") else
                       f"exit {p['exit_code']}" if p["exit_code"] else "DIFFERENT")
            if p.get("no_step_left"):
                outcome += " (no step left to train)"
            if p.get("drawn") is not None:  # its kill came too late: it had finished
                outcome += f" (its kill, drawn at step {p['drawn']}, came after its end)"
            lines.append(f"| {p['process']} | {p['run']} | | | | | | {p['backups_before']} | "
                         f"finished: {outcome} |")
    late = sum(landed(p, total) == "late" for p in killed)
    lines.append(
        f"\n{len(killed)} kills ({log['kills_inside_writes']} inside backup writes, "
        f"{log['kills_after_training']} drawn after training, {late} landed late); "
        f"{log['kills_resumed_from_a_backup']}/{len(killed)} resumed from a backup; "
        f"{log['runs_identical']}/{log['runs_completed']} completed runs bit-identical to "
        f"the reference; {log['total_seconds']} s; load average "
        f"{log['load_average_before'][0]:.1f} before, {log['load_average_after'][0]:.1f} after")
    return "\n".join(lines)


def total_steps(path):
    """Epochs x steps per epoch, from a process's "Pretraining ..." line."""
    with open(path, errors="replace") as f:
        match = re.search(r"(\d+) epochs? of (\d+) steps?", f.read())
    return int(match.group(1)) * int(match.group(2))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--log", help="write the JSON log here")
    parser.add_argument("--workdir", help="keep the runs' files here (default: a temp folder)")
    parser.add_argument("--backup-steps", type=int, default=2)
    parser.add_argument("--kills-per-run", type=int, default=4)
    parser.add_argument("--at-step", type=int,
                        help="kill in this training step (1-based) instead of a random one")
    parser.add_argument("--table", metavar="LOG.json",
                        help="print the table of a JSON log written before, and exit")
    args, flags = parser.parse_known_args(argv)
    if args.table:
        with open(args.table) as f:
            print(report(json.load(f)))
        return 0
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
           "seed": args.seed, "kills_per_run": args.kills_per_run, "at_step": args.at_step, "python": platform.python_version(),
           "machine": platform.machine(), "cpus": os.cpu_count(),
           "load_average_before": os.getloadavg(), "processes": []}

    started = time.monotonic()
    reference_file, output = (os.path.join(work, name) for name in ("reference.keras",
                                                                      "reference.log"))
    with open(output, "w") as out:
        process = start(flags, os.path.join(work, "reference_backup"), reference_file, out)
        watcher = Watcher(output, os.path.join(work, "reference_backup"))
        watcher.start()
        code = process.wait()
        seen = watcher.stop()
    if code != 0 or "saved" not in seen or not seen["records"]:
        print(tail(output), file=sys.stderr)
        raise SystemExit(f"the reference run failed (exit {code})")
    total = total_steps(output)
    timing = Timing(seen)
    times = timing.now()
    reference = weights_of(reference_file)
    log.update(reference_seconds=round(seen["end"], 1), total_steps=total,
               reference_seconds_before_training=round(seen["training"], 1),
               reference_training_seconds=round(seen["trained"] - seen["training"], 1),
               reference_first_step_seconds=round(times[0], 3),
               reference_step_seconds=round(times[1], 4),
               reference_evaluation_and_save_seconds=round(times[2], 2),
               reference_digest=digest(reference))
    print(f"reference: {seen['end']:.1f} s ({seen['training']:.1f} s before training, "
          f"{total} steps: the first {times[0]:.2f} s, then {times[1]:.3f} s each; "
          f"{times[2]:.1f} s evaluating and saving), {len(reference)} arrays, digest "
          f"{digest(reference)}")

    failures, kills, run, number, plan = [], 0, 1, 0, None
    while True:
        number += 1
        backup_dir = os.path.join(work, f"run{run}_backup")
        model_file = os.path.join(work, f"run{run}.keras")
        output = os.path.join(work, f"process{number}.log")
        before = backups_in(backup_dir)
        resumed = max(before, default=0)
        if plan is None:  # a new run: its kill steps
            plan = sorted(args.at_step or rng.randint(1, total + 1)
                          for _ in range(min(args.kills_per_run, args.kills - kills)))
        kind = "time" if kills % 2 or resumed >= total else "write"
        drawn = plan.pop(0) if plan else None
        step = None if drawn is None else min(max(drawn, resumed + 1),
                                              total if kind == "write" else total + 1)
        begin, times = time.monotonic(), timing.now()
        with open(output, "w") as out:
            process = start(flags, backup_dir, model_file, out)
            watcher = Watcher(output, backup_dir)
            watcher.start()
            if step is not None:
                killed, inside = kill_moment(process, output, backup_dir, step, resumed, total,
                                             args.backup_steps, times, kind, rng)
            else:
                process.wait()
                killed, inside = False, False
            timing.learn(watcher.stop(), resumed)
        entry = {"process": number, "run": run, "backups_before": before,
                 "seconds": round(time.monotonic() - begin, 2), "killed": killed,
                 "drawn": drawn, "timing": [round(t, 3) for t in times]}
        if resumed >= total:  # resumed the finished state: no step may be trained again
            entry["no_step_left"] = said(output, "no step left to train")
            if not killed and not entry["no_step_left"]:
                failures.append(f"process {number} resumed step {resumed} of {total} and "
                                "did not say it had no step left to train")
        if killed:
            kills += 1
            after = backups_in(backup_dir)
            entry.update(kill=kills, kind=kind, step=step, inside_write=inside,
                         backups_after=after, resumes_from=max(after, default=None))
            where = "after training" if step > total else f"in step {step}/{total}"
            print(f"process {number}: kill {kills} ({kind}) {where}"
                  f"{', inside a backup write' if inside else ''}; backups "
                  f"{before} -> {after}")
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
            run, plan = run + 1, None
        log["processes"].append(entry)
        if not killed and kills >= args.kills:
            break
        if not killed and process.returncode != 0:
            break

    finished = [p for p in log["processes"] if not p["killed"]]
    killed = [p for p in log["processes"] if p["killed"]]
    log.update(total_seconds=round(time.monotonic() - started, 1), failures=failures,
               load_average_after=os.getloadavg(), runs_completed=len(finished),
               runs_identical=sum(bool(p.get("identical")) for p in finished),
               kills_inside_writes=sum(bool(p.get("inside_write")) for p in killed),
               kills_after_training=sum(p["step"] > total for p in killed),
               kills_resumed_from_a_backup=sum(p["resumes_from"] is not None for p in killed))
    print()
    print(report(log))
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
