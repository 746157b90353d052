"""Recall@N against brute force; label-fraction subsets; fine-tuning beats a frozen encoder."""
import numpy as np
import pytest

from keras_contrastive.evaluation import finetune, label_fraction_subset, recall_at_n
from tests.conftest import small_cnn


def brute_force_recall(queries, database, matches, n):
    hits = 0
    for i, q in enumerate(queries):
        sims = [q @ d / (np.linalg.norm(q) * np.linalg.norm(d)) for d in database]
        top = sorted(range(len(database)), key=lambda j: -sims[j])[:n]
        hits += any(matches[i][j] for j in top)
    return hits / len(queries)


@pytest.mark.parametrize("form", ["indices", "matrix"])
def test_recall_at_n_equals_brute_force(form):
    rng = np.random.default_rng(0)
    database = rng.normal(size=(40, 8))
    truth = rng.integers(0, 40, size=25)
    queries = database[truth] + 1.2 * rng.normal(size=(25, 8))
    matches = np.zeros((25, 40), bool)
    matches[np.arange(25), truth] = True
    if form == "matrix":  # a second correct item for some queries
        matches[np.arange(0, 25, 3), rng.integers(0, 40, size=9)] = True
    got = recall_at_n(queries, database, truth if form == "indices" else matches, ns=(1, 3, 5))
    for n in (1, 3, 5):
        assert got[n] == pytest.approx(brute_force_recall(queries, database, matches, n),
                                       abs=1e-4)
    assert 0 < got[1] < got[5] < 1  # the noise makes it a real test


def test_recall_at_n_refuses_bad_input():
    with pytest.raises(ValueError, match="one database index per query"):
        recall_at_n(np.ones((2, 3)), np.ones((4, 3)), np.array([0, 9]))
    with pytest.raises(ValueError, match=r"\[Q, D\] and \[M, D\]"):
        recall_at_n(np.ones((2, 3)), np.ones((4, 2)), np.array([0, 1]))


def test_label_fraction_subsets_are_balanced_and_reproducible(fashion_mnist_train):
    labels = fashion_mnist_train[1]
    subset = label_fraction_subset(labels, 0.1, seed=3)
    counts = np.bincount(labels[subset], minlength=10)
    expected = np.round(0.1 * np.bincount(labels, minlength=10))
    np.testing.assert_array_equal(counts, expected)
    assert len(np.unique(subset)) == len(subset)
    np.testing.assert_array_equal(subset, label_fraction_subset(labels, 0.1, seed=3))
    assert not np.array_equal(subset, label_fraction_subset(labels, 0.1, seed=4))
    # 1 % of 2,000 images: 2 per class (rounded), never 0 for a class
    assert np.all(np.bincount(labels[label_fraction_subset(labels, 0.01)]) >= 1)


def test_finetuning_beats_the_frozen_encoder_and_leaves_the_original_alone(
        fashion_mnist_train, fashion_mnist_test):
    encoder = small_cnn()
    before = [w.copy() for w in encoder.get_weights()]
    common = dict(label_fraction=0.1, epochs=15, batch_size=32, learning_rate=0.05, seed=0)
    tuned = finetune(encoder, fashion_mnist_train, fashion_mnist_test, trainable=True, **common)
    frozen = finetune(encoder, fashion_mnist_train, fashion_mnist_test, trainable=False,
                      **common)
    expected = sum(int(round(0.1 * c)) for c in np.bincount(fashion_mnist_train[1]))
    assert tuned["train_examples"] == frozen["train_examples"] == expected
    assert tuned["accuracy"] > frozen["accuracy"] + 0.02, (tuned["accuracy"], frozen["accuracy"])
    assert tuned["accuracy"] > 0.6  # 10 classes: chance is 0.1
    for a, b in zip(before, encoder.get_weights()):
        np.testing.assert_array_equal(a, b)
    changed = tuned["model"].layers[1].get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, changed))


def test_finetuning_traces_its_train_step_once(fashion_mnist_train, monkeypatch):
    """Metrics, loss and optimizer slots are built before the trace: a variable
    created inside it makes tf.function trace the whole step a second time."""
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    traces = []
    real = TensorFlowTrainer.train_step
    monkeypatch.setattr(TensorFlowTrainer, "train_step",
                        lambda self, data: traces.append(1) or real(self, data))
    images, labels = (a[:64] for a in fashion_mnist_train)
    result = finetune(small_cnn(), (images, labels), (images, labels), label_fraction=0.5,
                      epochs=1, batch_size=16)
    assert len(traces) == 1
    assert int(result["model"].optimizer.iterations.numpy()) == 2
