"""``model.fit`` under a real two-process MultiWorkerMirroredStrategy on 127.0.0.1."""
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

# every test here reads one module fixture that starts two worker processes (about 26 s in
# the reference run, charged to whichever test ran first): slow, for `make test-quick`
pytestmark = pytest.mark.slow

JOB = os.path.join(os.path.dirname(__file__), "multi_worker_job.py")


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _run(indices, ports, out_dir):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    procs = [subprocess.Popen([sys.executable, JOB, str(i), ",".join(map(str, ports)), out_dir],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
             for i in indices]
    outputs = []
    for proc in procs:
        try:
            outputs.append(proc.communicate(timeout=300)[0])
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
    for proc, output in zip(procs, outputs):
        assert proc.returncode == 0, output[-3000:]


@pytest.fixture(scope="module")
def results(tmp_path_factory, fashion_mnist_train):  # the fixture checks the data is there
    out = str(tmp_path_factory.mktemp("multi_worker"))
    _run([-1], [0], out)  # the single-process reference
    _run([0, 1], _free_ports(2), out)
    return out


@pytest.mark.parametrize("method", ["simclr", "moco"])
def test_two_workers_fit_like_one_process(method, results):
    single, *workers = (np.load(os.path.join(results, f"{method}_{i}.npz")) for i in (-1, 0, 1))
    weights = [k for k in single.files if k.startswith("arr_")]
    assert len(weights) > 10
    for name in weights:  # both workers hold identical weights (queue and key encoder included)
        np.testing.assert_array_equal(workers[0][name], workers[1][name], err_msg=name)
        np.testing.assert_allclose(workers[0][name], single[name], atol=1e-5, err_msg=name)
    np.testing.assert_allclose(workers[0]["loss"], single["loss"], atol=1e-5)
    assert [bool(w["chief"]) for w in workers] == [True, False]


@pytest.mark.parametrize("method", ["simclr", "moco"])
def test_the_chief_checkpoint_restores_the_trained_model(method, results):
    import keras

    import keras_contrastive.models  # noqa: F401  (registers the classes for loading)

    restored = keras.models.load_model(os.path.join(results, f"{method}.keras"))
    worker = np.load(os.path.join(results, f"{method}_0.npz"))
    for index, value in enumerate(restored.get_weights()):
        np.testing.assert_array_equal(value, worker[f"arr_{index}"])
