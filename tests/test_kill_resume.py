"""A training process killed with SIGKILL mid-epoch resumes, with
``keras_contrastive.callbacks.BackupAndRestore``, to the weights and state of
an uninterrupted run, bit for bit: shuffled and randomly augmented data
included, in epoch 2 and 3 (tests/resume_job.py is the training process)."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

JOB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resume_job.py")


def _run(method, backup, out, kill, save_freq):
    return subprocess.run(
        [sys.executable, JOB, method, str(backup), str(out), str(kill), str(save_freq)],
        capture_output=True, text=True, timeout=600)


# 3 epochs of 4 steps.  Backups every 3 steps (after steps 3, 6, 9): killed
# after step 8 (epoch 2, batch 4), the run resumes from step 6 and drops the
# first 2 batches of epoch 2; killed after step 10, from step 9 (drops 1 batch
# of epoch 3).  Killed inside the backup of step 9 (half of its weights file
# written, or the weights in place but not its record), it resumes from step 6:
# a backup exists only once complete.  Backups every 4 steps fall on epoch
# ends: resumes start the next epoch at its first batch.
@pytest.mark.parametrize("method,save_freq,kills,backups", [
    ("simclr", 4, ("8", "10"), [4, 8]), ("moco_v2", 3, ("8", "9:record"), [3, 6]),
    ("dino", 3, ("9:weights", "10"), [6, 9])])
def test_killed_run_resumes_to_the_uninterrupted_weights(method, save_freq, kills, backups,
                                                         tmp_path):
    whole = _run(method, tmp_path / "backup_whole", tmp_path / "whole.npz", 0, save_freq)
    assert whole.returncode == 0, whole.stderr[-3000:]

    # each resume redoes the steps after the last complete backup, none before it
    for kill in kills:
        killed = _run(method, tmp_path / "backup", tmp_path / "resumed.npz", kill, save_freq)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert not (tmp_path / "resumed.npz").exists()
    # the complete backups (records) the kills left: the last two
    assert sorted(int(name[len("backup-"):-len(".json")]) for name in
                  os.listdir(tmp_path / "backup") if name.endswith(".json")
                  and not name.startswith(".")) == backups
    resumed = _run(method, tmp_path / "backup", tmp_path / "resumed.npz", 0, save_freq)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    expected, got = np.load(tmp_path / "whole.npz"), np.load(tmp_path / "resumed.npz")
    assert sorted(got.files) == sorted(expected.files)
    assert int(got["sgd/iteration"]) == int(expected["sgd/iteration"]) == 12
    if method == "moco_v2":  # 12 batches of 16 through an 80-key queue
        assert int(got["queue/pointer"]) == 12 * 16 % 80
    for name in expected.files:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)  # bit for bit
