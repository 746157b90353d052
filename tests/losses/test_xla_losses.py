"""Every public objective of ``keras_contrastive.losses`` runs its arithmetic in an XLA-compiled
core, and under XLA its values and gradients equal TensorFlow's without XLA to 1e-5, on one
replica and inside a 2-replica ``MirroredStrategy``.

"Compiled" is read from the traced step: it calls at least one function marked
``_XlaMustCompile`` (a ``tf.function(jit_compile=True)``) and, on one replica (where gathers
are the identity), none of the loss's arithmetic (matrix products, softmax, exp, log, max,
top-k, argmax) runs outside such a function.
The reference runs the same step with every ``jit_compile=True`` function of the losses'
modules replaced by its ``python_function``: the same Python on TensorFlow's own kernels,
without XLA (in a graph, not eagerly: MirroredStrategy's ``all_gather`` has no eager mode).
The cases are keyed by ``keras_contrastive.losses.__all__``: a new public name without a case
fails here.
"""
import importlib
import pkgutil

import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import losses
from tests.conftest import make_two_replica_strategy

N, D, K = 8, 6, 12  # global batch (two replicas of 4), embedding width, queue length / prototypes

# the ops that carry a loss's arithmetic: none may run outside an XLA-compiled function
_ARITHMETIC = {"MatMul", "BatchMatMulV2", "BatchMatMulV3", "Softmax", "LogSoftmax", "Exp", "Log",
               "Max", "TopKV2", "ArgMax"}


def _cases():
    """``{public name: (call, per-example inputs (split over replicas), shared inputs)}``."""
    rng = np.random.default_rng(0)

    def z(*shape):
        return rng.normal(size=shape).astype(np.float32)

    def codes():
        e = np.exp(z(N, K))
        return e / e.sum(axis=1, keepdims=True)

    local_index = np.tile(np.arange(N // 2)[::-1], 2)  # each replica's own candidates
    labels = np.array([0, 1, 2, 0, 1, 2, 3, 3])
    return {
        "NTXent": (lambda a, b: losses.NTXent(0.5)(None, tf.concat([a, b], 0)),
                   [z(N, D), z(N, D)], []),
        "barlow_twins": (losses.barlow_twins, [z(N, D), z(N, D)], []),
        "batch_info_nce": (losses.batch_info_nce, [z(N, D), z(N, D)], []),
        "clip_loss": (lambda i, t, s: losses.clip_loss(i, t, s[0]), [z(N, D), z(N, D)],
                      [np.array([2.5], np.float32)]),
        "cpc_nce": (losses.cpc_nce, [z(N, D), local_index, z(N, D)], []),
        "dense_contrastive": (losses.dense_contrastive,
                              [z(N, 4, D), z(N, 6, D), z(N, 4, 5), z(N, 6, 5)], [z(K, D)]),
        "dino": (lambda s0, s1, s2, t0, t1, c: losses.dino([s0, s1, s2], [t0, t1], c),
                 [z(N, K) for _ in range(5)], [z(K)]),
        "ibot_patch_loss": (
            lambda s0, s1, t0, t1, m0, m1, c: losses.ibot_patch_loss([s0, s1], [t0, t1],
                                                                     [m0, m1], c),
            [z(N, 4, K), z(N, 4, K), z(N, 4, K), z(N, 4, K), z(N, 4) > 0, z(N, 4) > 0], [z(K)]),
        "ijepa_loss": (losses.ijepa_loss, [z(N, 2, 3, D), z(N, 2, 3, D)], []),
        "info_nce": (losses.info_nce, [z(N, D), z(N, D)], [z(K, D)]),
        "feature_distillation": (losses.feature_distillation, [z(N, D), z(N, D)], []),
        "koleo": (losses.koleo, [z(N, D)], []),
        "mae_loss": (losses.mae_loss, [z(N, 4, D), z(N, 4, D), z(N, 4) > 0], []),
        "nearest_neighbour_nce": (
            lambda q, f, fq, kq: losses.nearest_neighbour_nce(q, f, fq, kq, k=3),
            [z(N, D), z(N, 4)], [z(K, 4), z(K, D)]),
        "nearest_neighbours": (losses.nearest_neighbours, [z(N, D)], [z(K, D)]),
        "negative_cosine_similarity": (losses.negative_cosine_similarity, [z(N, D), z(N, D)], []),
        "nnclr_loss": (losses.nnclr_loss, [z(N, D), z(N, D)], [z(K, D)]),
        "npid": (losses.npid, [z(N, D), np.arange(N)[::-1] + 2], [z(K, D)]),
        "nt_xent": (losses.nt_xent, [z(N, D), z(N, D)], []),
        "sinkhorn": (losses.sinkhorn, [z(N, K)], []),
        "supcon": (lambda a, b, y: losses.supcon([a, b], y), [z(N, D), z(N, D), labels], []),
        "swapped_prediction": (
            lambda s0, s1, s2, q0, q1: losses.swapped_prediction([s0, s1, s2], {0: q0, 1: q1}),
            [z(N, K), z(N, K), z(N, K), codes(), codes()], []),
        "vicreg": (losses.vicreg, [z(N, D), z(N, D)], []),
        "vicreg_terms": (losses.vicreg_terms, [z(N, D), z(N, D)], []),
    }


_CASES = _cases()


def _step(call):
    """The outputs and the gradients of their sum w.r.t. every float input."""
    def step(*inputs):
        floats = [x for x in inputs if x.dtype.is_floating]
        with tf.GradientTape() as tape:
            tape.watch(floats)
            outputs = tf.nest.flatten(call(*inputs))
            total = tf.add_n([tf.reduce_sum(o) for o in outputs])
        return outputs, tape.gradient(total, floats,
                                      unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return step


def _run(call, rows, shared, strategy):
    """``(arrays, graph)``: every output and gradient of every replica, and the traced step."""
    rows = [tf.constant(r) for r in rows]
    shared = [tf.constant(s) for s in shared]
    if strategy is None:
        step, inputs = tf.function(_step(call)), rows + shared
    else:
        def shard(x):
            size = x.shape[0] // 2
            return strategy.experimental_distribute_values_from_function(
                lambda ctx: x[ctx.replica_id_in_sync_group * size:][:size])

        step = tf.function(lambda *a: strategy.run(_step(call), args=a))
        inputs = [shard(r) for r in rows] + shared
    results = step(*inputs)
    local = strategy.experimental_local_results if strategy else lambda x: (x,)
    arrays = [np.asarray(t) for leaf in tf.nest.flatten(results) for t in local(leaf)]
    return arrays, step.get_concrete_function(*inputs).graph


def _without_xla(monkeypatch):
    """Replaces each ``jit_compile=True`` function of the losses' modules by its Python function."""
    for info in pkgutil.iter_modules(losses.__path__):
        module = importlib.import_module(f"{losses.__name__}.{info.name}")
        for name, value in list(vars(module).items()):
            if getattr(value, "_jit_compile", False):
                monkeypatch.setattr(module, name, value.python_function)


def _xla_calls(graph):
    def must_compile(op):
        try:
            return op.get_attr("_XlaMustCompile")
        except ValueError:
            return False
    return [op for op in graph.get_operations() if must_compile(op)]


@pytest.mark.parametrize("replicas", [1, 2])
@pytest.mark.parametrize("name", losses.__all__)
def test_loss_is_xla_compiled_and_equals_plain_tensorflow(name, replicas):
    assert name in _CASES, f"keras_contrastive.losses.{name} is public: give it a case here"
    call, rows, shared = _CASES[name]
    strategy = make_two_replica_strategy() if replicas == 2 else None
    compiled, graph = _run(call, rows, shared, strategy)
    assert _xla_calls(graph), f"{name} calls no jit_compile=True function"
    if strategy is None:  # on two replicas the strategy's all_gather adds its own index arithmetic
        loose = {op.type for op in graph.get_operations()} & _ARITHMETIC
        assert not loose, f"{name} computes {sorted(loose)} outside its XLA-compiled core"
    with pytest.MonkeyPatch.context() as monkeypatch:
        _without_xla(monkeypatch)
        plain, graph = _run(call, rows, shared, strategy)
    assert not _xla_calls(graph)
    assert len(plain) == len(compiled)
    for a, b in zip(compiled, plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
