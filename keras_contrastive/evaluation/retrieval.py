"""Retrieval by cosine similarity: Recall@N."""
import numpy as np


def recall_at_n(query_embeddings, database_embeddings, ground_truth, ns=(1, 2, 3, 4, 5)):
    """Recall@N of query -> database retrieval by cosine similarity.

    A query succeeds at ``N`` if any of its ``N`` most similar database items
    is a correct match.  ``ground_truth`` is either an int array ``[Q]`` (the
    one matching database index of each query, as in paired-view retrieval)
    or a boolean matrix ``[Q, M]`` of correct matches.

    Returns:
        ``{N: recall}`` for each ``N`` of ``ns``.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.evaluation import recall_at_n
    >>> database = np.eye(4, dtype="float32")
    >>> queries = database[[0, 1, 3]] + 0.1
    >>> recall_at_n(queries, database, np.array([0, 1, 2]), ns=(1, 4))
    {1: 0.6667, 4: 1.0}
    """
    q = np.asarray(query_embeddings, np.float64)
    d = np.asarray(database_embeddings, np.float64)
    if q.ndim != 2 or d.ndim != 2 or q.shape[1] != d.shape[1]:
        raise ValueError(f"recall_at_n: embeddings must be [Q, D] and [M, D], got {q.shape} "
                         f"and {d.shape}.")
    truth = np.asarray(ground_truth)
    if truth.ndim == 1:
        if len(truth) != len(q) or truth.min(initial=0) < 0 or truth.max(initial=0) >= len(d):
            raise ValueError("recall_at_n: ground_truth must hold one database index per query.")
        matches = np.zeros((len(q), len(d)), bool)
        matches[np.arange(len(q)), truth] = True
    elif truth.shape == (len(q), len(d)):
        matches = truth.astype(bool)
    else:
        raise ValueError(f"recall_at_n: ground_truth must be [Q] indices or a [Q, M] matrix, "
                         f"got shape {truth.shape}.")
    if any(not isinstance(n, (int, np.integer)) or n < 1 for n in ns):
        raise ValueError(f"recall_at_n: each N must be a positive integer, got {ns}.")
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    ranking = np.argsort(-(q @ d.T), axis=1, kind="stable")
    hits = np.take_along_axis(matches, ranking, axis=1)
    first_hit = np.where(hits.any(axis=1), hits.argmax(axis=1), len(d))
    return {int(n): round(float(np.mean(first_hit < n)), 4) for n in ns}
