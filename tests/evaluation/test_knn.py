"""Tests of keras_contrastive/evaluation/knn.py."""
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.evaluation import knn_accuracy, knn_predict

knn_module = sys.modules["keras_contrastive.evaluation.knn"]


def reference_knn(train, train_labels, queries, k, temperature, num_classes, top=1):
    """The InstDisc/MoCo kNN vote, written as plainly as possible (float64);
    ``top`` > 1 returns the ``top`` best classes per query, best first."""
    train = train / np.linalg.norm(train, axis=1, keepdims=True)
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    k = min(k, len(train))
    predictions = []
    for q in queries:
        similarity = train @ q
        neighbours = np.argsort(-similarity)[:k]
        scores = np.zeros(num_classes)
        for i in neighbours:
            scores[train_labels[i]] += np.exp(similarity[i] / temperature)
        # best first; equal scores: the smaller class id first
        ranked = sorted(range(num_classes), key=lambda c: (-scores[c], c))
        predictions.append(ranked[0] if top == 1 else ranked[:top])
    return np.array(predictions)


@pytest.mark.parametrize("k, temperature", [(1, 0.1), (10, 0.07), (50, 0.5), (300, 0.1)])
def test_predictions_equal_plain_numpy_reference(k, temperature, monkeypatch):
    rng = np.random.default_rng(1)
    train = rng.normal(size=(250, 16)).astype(np.float32)
    labels = rng.integers(0, 6, 250)
    queries = rng.normal(size=(120, 16)).astype(np.float32)
    # Force several query chunks to exercise the chunked path.
    monkeypatch.setattr(knn_module, "_MAX_SIMILARITY_ENTRIES", 250 * 32)
    predictions = knn_predict(train, labels, queries, k=k, temperature=temperature)
    expected = reference_knn(train.astype(np.float64), labels, queries.astype(np.float64), k, temperature, 6)
    assert predictions.dtype == np.int64 and predictions.shape == (120,)
    np.testing.assert_array_equal(predictions, expected)


@pytest.mark.parametrize("k, temperature", [(10, 0.07), (50, 0.5)])
def test_top_5_predictions_and_accuracy_equal_the_numpy_reference(k, temperature):
    rng = np.random.default_rng(3)
    train = rng.normal(size=(250, 16)).astype(np.float32)
    labels = rng.integers(0, 10, 250)
    queries = rng.normal(size=(80, 16)).astype(np.float32)
    query_labels = rng.integers(0, 10, 80)
    ranked = knn_predict(train, labels, queries, k=k, temperature=temperature, top_k=5)
    expected = reference_knn(train.astype(np.float64), labels, queries.astype(np.float64), k,
                             temperature, 10, top=5)
    assert ranked.shape == (80, 5)
    np.testing.assert_array_equal(ranked, expected)
    np.testing.assert_array_equal(ranked[:, 0], knn_predict(train, labels, queries, k=k,
                                                            temperature=temperature))
    encoder = keras.Sequential([keras.Input((16,)), keras.layers.Identity()])
    top5 = knn_accuracy(encoder, (train, labels), (queries, query_labels), k=k,
                        temperature=temperature, top_k=5)
    assert top5 == pytest.approx(np.mean([y in row for y, row in zip(query_labels, expected)]))
    top1 = knn_accuracy(encoder, (train, labels), (queries, query_labels), k=k,
                        temperature=temperature)
    assert top1 == pytest.approx(np.mean(expected[:, 0] == query_labels)) and top1 <= top5
    with pytest.raises(ValueError, match="`top_k`=11 is more than the 10 classes"):
        knn_predict(train, labels, queries, top_k=11)


def test_k_larger_than_train_size_is_clamped():
    rng = np.random.default_rng(2)
    train, labels = rng.normal(size=(5, 3)), np.array([0, 1, 1, 2, 2])
    queries = rng.normal(size=(4, 3))
    np.testing.assert_array_equal(
        knn_predict(train, labels, queries, k=1000), knn_predict(train, labels, queries, k=5)
    )


def test_low_temperature_does_not_overflow_and_acts_as_nearest_neighbour():
    rng = np.random.default_rng(3)
    train, labels = rng.normal(size=(100, 8)), rng.integers(0, 4, 100)
    queries = rng.normal(size=(30, 8))
    np.testing.assert_array_equal(
        knn_predict(train, labels, queries, k=50, temperature=1e-4),
        knn_predict(train, labels, queries, k=1),
    )


def test_bad_arguments_raise_clear_errors():
    train, labels = np.ones((4, 3)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="same feature dimension"):
        knn_predict(train, labels, np.ones((2, 5)))
    with pytest.raises(ValueError, match="`k`"):
        knn_predict(train, labels, train, k=0)
    with pytest.raises(ValueError, match="`temperature`"):
        knn_predict(train, labels, train, temperature=0.0)
    with pytest.raises(ValueError, match="train_labels"):
        knn_predict(train, labels[:3], train)
    with pytest.raises(ValueError, match="num_classes"):
        knn_predict(train, labels, train, num_classes=1)
    with pytest.raises(ValueError, match="empty"):
        knn_predict(train[:0], labels[:0], train)


def test_raw_pixel_knn_on_fashion_mnist_beats_70_percent(fashion_mnist_train, fashion_mnist_test):
    encoder = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten()])
    accuracy = knn_accuracy(encoder, fashion_mnist_train, fashion_mnist_test, k=20)
    assert isinstance(accuracy, float)
    assert accuracy > 0.7
    # The same data as an unbatched uint8 tf.data pipeline gives the same number.
    train_ds = tf.data.Dataset.from_tensor_slices(fashion_mnist_train)
    test_ds = tf.data.Dataset.from_tensor_slices(fashion_mnist_test).batch(128)
    assert knn_accuracy(encoder, train_ds, test_ds, k=20) == pytest.approx(accuracy)
