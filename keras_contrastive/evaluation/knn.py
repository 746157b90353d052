"""Weighted k-nearest-neighbour classification of frozen features.

The monitor used by InstDisc (Wu et al., 2018) and MoCo: features are
l2-normalised, each query takes its ``k`` most cosine-similar training
features, and neighbour ``i`` votes for its label with weight
``exp(s_i / temperature)``::

    score(c | q) = sum_{i in topk(q)} exp(s_i / T) * [y_i == c]
    prediction(q) = argmax_c score(c | q)

Weights are computed as ``exp((s_i - s_max) / T)``, which rescales every vote
of a query by the same positive constant (so the argmax is unchanged) and
cannot overflow at low temperatures.
"""
import numpy as np
import tensorflow as tf

from keras_contrastive._checks import is_positive_int
from keras_contrastive.evaluation.features import check_labels, extract_features

__all__ = ["knn_predict", "knn_accuracy"]

# Similarity entries per query chunk (float32): 2**24 entries = 64 MiB.
_MAX_SIMILARITY_ENTRIES = 2**24


def _check_features(name, features):
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"`{name}` must be a [N, D] array of features; got shape {features.shape}.")
    if features.shape[0] == 0:
        raise ValueError(f"`{name}` is empty (shape {features.shape}).")
    if not np.issubdtype(features.dtype, np.number):
        raise ValueError(f"`{name}` must be numeric; got dtype {features.dtype}.")
    return features.astype(np.float32, copy=False)


def knn_predict(train_features, train_labels, query_features, k=200, temperature=0.1,
                num_classes=None, top_k=1):
    """Predict labels of query features by a similarity-weighted kNN vote.

    Args:
        train_features: ``[N, D]`` features of the labelled (memory) set.
        train_labels: ``[N]`` integer class ids of ``train_features``.
        query_features: ``[Q, D]`` features to classify.
        k: number of neighbours; clamped to ``N`` when larger.
        temperature: positive temperature ``T`` of the vote weights
            ``exp(similarity / T)``.
        num_classes: number of classes; defaults to ``max(train_labels) + 1``.
        top_k: how many classes to return per query, best first.

    Returns:
        int64 ``[Q]`` predicted class ids (``[Q, top_k]`` when ``top_k > 1``,
        ordered by vote).  Ties between class scores go to the smaller
        class id.

    Example:

    ```python
    import numpy as np
    from keras_contrastive.evaluation import knn_predict

    train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    labels = np.array([0, 0, 1])
    print(knn_predict(train, labels, np.array([[0.2, 1.0]]), k=1))  # [1]
    ```
    """
    train_features = _check_features("train_features", train_features)
    query_features = _check_features("query_features", query_features)
    train_labels = check_labels(train_labels, train_features.shape[0], "train_labels")
    if train_features.shape[1] != query_features.shape[1]:
        raise ValueError(
            "`train_features` and `query_features` must have the same feature dimension; got "
            f"shapes {train_features.shape} and {query_features.shape}."
        )
    if not is_positive_int(k):
        raise ValueError(f"`k` must be a positive integer, got {k!r}.")
    if not np.isscalar(temperature) or not temperature > 0:
        raise ValueError(f"`temperature` must be a positive number, got {temperature!r}.")
    if not is_positive_int(top_k):
        raise ValueError(f"`top_k` must be a positive integer, got top_k={top_k!r}.")
    min_classes = int(train_labels.max()) + 1
    if num_classes is None:
        num_classes = min_classes
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < min_classes:
        raise ValueError(
            f"`num_classes` must be an integer >= max(train_labels) + 1 = {min_classes}, got {num_classes!r}."
        )
    if top_k > num_classes:
        raise ValueError(f"`top_k`={top_k} is more than the {num_classes} classes.")

    num_train = train_features.shape[0]
    k = int(min(k, num_train))
    bank = tf.math.l2_normalize(tf.constant(train_features), axis=1)
    bank_labels = tf.constant(train_labels)
    chunk = max(1, _MAX_SIMILARITY_ENTRIES // num_train)
    predictions = []
    for start in range(0, query_features.shape[0], chunk):
        queries = tf.math.l2_normalize(tf.constant(query_features[start : start + chunk]), axis=1)
        similarity = tf.matmul(queries, bank, transpose_b=True)  # [q, N]
        top_similarity, top_index = tf.math.top_k(similarity, k=k)  # sorted, [q, k]
        weights = tf.exp((top_similarity - top_similarity[:, :1]) / float(temperature))
        votes = tf.one_hot(tf.gather(bank_labels, top_index), num_classes, dtype=tf.float32)
        scores = tf.reduce_sum(votes * weights[:, :, None], axis=1)  # [q, C]
        # top_k's order among equal scores is by index: the smaller class id first
        ranked = tf.math.top_k(scores, k=int(top_k)).indices
        predictions.append(tf.cast(ranked, tf.int64).numpy())
    predictions = np.concatenate(predictions)
    return predictions[:, 0] if top_k == 1 else predictions


def knn_accuracy(encoder, train, test, k=200, temperature=0.1, batch_size=512, top_k=1):
    """Top-1 (or top-``top_k``) accuracy of a weighted kNN classifier on frozen
    encoder features.

    Args:
        encoder: Keras model mapping float32 images ``[B, H, W, C]`` in
            [0, 1] to ``[B, D]`` features; called with ``training=False``.
        train: labelled memory set: a ``tf.data.Dataset`` of
            ``(image, label)`` (batched or not, uint8 or float) or a tuple
            ``(images, labels)`` of NumPy arrays.
        test: labelled queries, in the same forms as ``train``.
        k: number of neighbours (clamped to the train size).
        temperature: temperature of the ``exp(similarity / T)`` vote weights.
        batch_size: images per encoder call (see ``extract_features``).
        top_k: a query counts as correct when its label is among the
            ``top_k`` classes of the vote (5 for top-5 accuracy; at most the
            number of classes).

    Returns:
        Accuracy on ``test`` as a Python float in [0, 1].

    Example:

    ```python
    import keras, numpy as np
    from keras_contrastive.evaluation import knn_accuracy

    encoder = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten()])
    images = np.random.default_rng(0).integers(0, 256, (20, 4, 4, 1), np.uint8)
    labels = np.arange(20) % 2
    # Each image's nearest neighbour is itself:
    print(knn_accuracy(encoder, (images, labels), (images, labels), k=1))  # 1.0
    ```
    """
    train_features, train_labels = extract_features(encoder, train, batch_size=batch_size)
    test_features, test_labels = extract_features(encoder, test, batch_size=batch_size)
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    predictions = knn_predict(
        train_features, train_labels, test_features, k=k, temperature=temperature,
        num_classes=num_classes, top_k=top_k,
    )
    return _hit_rate(predictions, test_labels)


def _hit_rate(ranked, labels):
    """Share of ``labels`` found among their row of ``ranked`` classes ([Q] or [Q, top])."""
    ranked = np.asarray(ranked).reshape(len(labels), -1)
    return float(np.mean(np.any(ranked == np.asarray(labels)[:, None], axis=1)))


def knn_metrics(train_features, train_labels, test_features, test_labels, k=200,
                temperature=0.1):
    """``{"knn_acc": top-1, "knn_top5_acc": top-5}`` of the weighted kNN vote on
    features (top-5 only with more than 5 classes), from one vote.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.evaluation import knn_metrics
    >>> features = np.eye(6, dtype="float32")
    >>> knn_metrics(features, np.arange(6), features, np.arange(6), k=1)
    {'knn_acc': 1.0, 'knn_top5_acc': 1.0}
    """
    test_labels = np.asarray(test_labels)
    num_classes = int(max(np.max(train_labels), test_labels.max())) + 1
    top = 5 if num_classes > 5 else 1
    ranked = knn_predict(train_features, train_labels, test_features, k=k,
                         temperature=temperature, num_classes=num_classes, top_k=top)
    ranked = ranked.reshape(len(test_labels), top)
    metrics = {"knn_acc": _hit_rate(ranked[:, 0], test_labels)}
    if top == 5:
        metrics["knn_top5_acc"] = _hit_rate(ranked, test_labels)
    return metrics
