"""Linear evaluation: a linear classifier on frozen features.

Two protocols.  ``protocol="sgd"`` is the ImageNet one: a linear layer on the
frozen encoder (BN statistics frozen too), its features standardised as MAE's
parameter-free BN does, trained by SGD with cosine decay on random-resized-crop
+ flip views (``evaluation.finetune`` with the encoder frozen).
``protocol="lbfgs"`` (the default, as "Revisiting..." and the SimCLR / BYOL
transfer appendices do) is multinomial logistic regression:

1. extract frozen features of ``train`` and ``test``;
2. split ``train`` into a fit part and a held-out validation part (stratified);
   for every candidate ``C`` (inverse L2 strength) standardise features with
   statistics of the fit part, fit logistic regression, score on validation;
3. refit on the full ``train`` (standardised with full-train statistics) with
   the best ``C`` and report accuracy on ``test``.
"""
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from keras_contrastive._checks import is_positive_int
from keras_contrastive.evaluation.features import check_labels, extract_features, labelled_arrays

__all__ = ["linear_probe", "linear_probe_from_features"]

DEFAULT_L2_GRID = tuple(np.logspace(-4, 2, 7))

# L-BFGS on a softmax regression multiplies [N, D] features by a skinny
# [D, classes] matrix.  Below this many feature entries, multi-threaded BLAS
# costs more than it saves (spinning OpenBLAS threads were 7-14x slower than
# one thread for 1,600 x 784 on a busy 2-core machine), so fits run on one
# BLAS thread; larger problems keep the process's BLAS threading.
_SINGLE_THREAD_MAX_ENTRIES = 2**23


def _fit(features, labels, C, max_iter, seed, init=None):
    """Standardise + fit, optionally warm-started from ``init = (coef, intercept)``.

    Returns (scaler, classifier, converged).
    """
    scaler = StandardScaler().fit(features)
    classifier = LogisticRegression(
        C=C, solver="lbfgs", max_iter=max_iter, random_state=seed, warm_start=init is not None
    )
    if init is not None:
        classifier.coef_, classifier.intercept_ = (np.array(a, copy=True) for a in init)
    blas_threads = 1 if features.size <= _SINGLE_THREAD_MAX_ENTRIES else None
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(blas_threads, user_api="blas"):
        warnings.simplefilter("always", ConvergenceWarning)
        classifier.fit(scaler.transform(features), labels)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return scaler, classifier, converged


def _accuracy(scaler, classifier, features, labels):
    return float(np.mean(classifier.predict(scaler.transform(features)) == labels))


def _check_split(name, features, labels):
    features = np.asarray(features)
    labels = np.asarray(labels)
    if features.ndim != 2:
        raise ValueError(f"`{name}_features` must have shape [N, D]; got shape {features.shape}.")
    if features.shape[0] == 0:
        raise ValueError(f"`{name}` is empty: no examples to fit or score the linear probe.")
    labels = check_labels(labels, features.shape[0], f"{name}_labels")
    return features.astype(np.float64, copy=False), labels


def linear_probe_from_features(
    train_features,
    train_labels,
    test_features,
    test_labels,
    l2_grid=None,
    val_fraction=0.2,
    seed=0,
    max_iter=1000,
    return_details=False,
):
    """Linear probe on precomputed features; see ``linear_probe``.

    Args:
        train_features: ``[N, D]`` training features.
        train_labels: ``[N]`` integer class ids (at least two classes).
        test_features: ``[M, D]`` test features (same ``D``).
        test_labels: ``[M]`` integer class ids.
        l2_grid, val_fraction, seed, max_iter, return_details: as in
            ``linear_probe``.

    Returns:
        Test accuracy (float), or a details dict if ``return_details``.

    Example:

    ```python
    import numpy as np
    from keras_contrastive.evaluation import linear_probe_from_features

    rng = np.random.default_rng(0)
    y = np.arange(200) % 2
    x = rng.normal(size=(200, 5)) + 5 * y[:, None]
    print(linear_probe_from_features(x[:100], y[:100], x[100:], y[100:]))  # 1.0
    ```
    """
    train_features, train_labels = _check_split("train", train_features, train_labels)
    test_features, test_labels = _check_split("test", test_features, test_labels)
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            "Train and test features must have the same dimension; got train features of shape "
            f"{train_features.shape} and test features of shape {test_features.shape}."
        )
    classes, counts = np.unique(train_labels, return_counts=True)
    if classes.size < 2:
        raise ValueError(
            f"The training labels contain a single class ({classes[0]!r}); a linear probe needs "
            "at least two classes."
        )
    grid = DEFAULT_L2_GRID if l2_grid is None else l2_grid
    grid = np.sort(np.asarray(grid, dtype=np.float64).ravel())
    if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise ValueError(
            f"`l2_grid` must be a non-empty sequence of positive inverse regularisation strengths C; got {l2_grid!r}."
        )
    if not is_positive_int(max_iter):
        raise ValueError(f"`max_iter` must be a positive integer, got {max_iter!r}.")

    val_accuracies = {}
    not_converged = []
    if grid.size == 1:
        best_C = float(grid[0])
        init = None
    else:
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"`val_fraction` must be in (0, 1) to choose C from `l2_grid`, got {val_fraction!r}.")
        num_val = int(np.ceil(val_fraction * train_features.shape[0]))
        num_fit = train_features.shape[0] - num_val
        stratify = (
            train_labels if counts.min() >= 2 and classes.size <= min(num_val, num_fit) else None
        )
        if num_fit < 2 or num_val < 1:
            raise ValueError(
                f"Too few training examples ({train_features.shape[0]}) to hold out "
                f"val_fraction={val_fraction} for choosing C."
            )
        fit_x, val_x, fit_y, val_y = train_test_split(
            train_features, train_labels, test_size=num_val, random_state=seed, stratify=stratify
        )
        if np.unique(fit_y).size < 2:
            raise ValueError(
                "The fit part of the training split contains a single class; use more training "
                "data or a different `seed`/`val_fraction`."
            )
        # A regularisation path: each C (ascending) starts from the previous
        # solution, which cuts the number of L-BFGS iterations.  The objective
        # is strictly convex, so warm starts change only where L-BFGS stops
        # within its tolerance, not the optimum it approximates.
        solutions = {}
        init = None
        for C in grid:
            scaler, classifier, converged = _fit(fit_x, fit_y, C, max_iter, seed, init)
            init = solutions[float(C)] = (classifier.coef_, classifier.intercept_)
            val_accuracies[float(C)] = _accuracy(scaler, classifier, val_x, val_y)
            if not converged:
                not_converged.append(float(C))
        # Ties go to the smallest C (strongest regularisation): grid is sorted.
        best_C = max(val_accuracies, key=lambda c: (val_accuracies[c], -c))
        init = solutions[best_C] if np.array_equal(np.unique(fit_y), classes) else None
    scaler, classifier, converged = _fit(train_features, train_labels, best_C, max_iter, seed, init)
    if not converged:
        not_converged.append(best_C)
    if not_converged:
        warnings.warn(
            f"linear_probe: L-BFGS did not converge in max_iter={max_iter} iterations for "
            f"C in {sorted(set(not_converged))}; consider a larger `max_iter`.",
            ConvergenceWarning,
            stacklevel=2,
        )
    accuracy = _accuracy(scaler, classifier, test_features, test_labels)
    if not return_details:
        return accuracy
    return {
        "accuracy": accuracy,
        "C": best_C,
        "val_accuracies": val_accuracies,
        "train_accuracy": _accuracy(scaler, classifier, train_features, train_labels),
        "not_converged": sorted(set(not_converged)),
        "classifier": classifier,
        "scaler": scaler,
    }


def linear_probe(
    encoder,
    train,
    test,
    l2_grid=None,
    val_fraction=0.2,
    seed=0,
    max_iter=1000,
    batch_size=512,
    return_details=False,
    protocol="lbfgs",
    epochs=30,
    learning_rate=0.1,
    augment="crop_flip",
):
    """Test accuracy of a linear classifier on a frozen encoder.

    ``protocol="lbfgs"`` (default): logistic regression on frozen features,
    described below.  ``protocol="sgd"``: the ImageNet protocol, a ``Dense``
    layer on the frozen encoder (its BatchNormalization in inference mode)
    whose features are standardised (as MAE's parameter-free BN does), trained
    for ``epochs`` by SGD (momentum 0.9, Nesterov, cosine decay from
    ``learning_rate``, batch ``batch_size``) on ``augment``-ed images (default
    ``crop_flip``: random resized crop, scale 0.08-1, + horizontal flip;
    ``None`` for none); the data is read into memory.  It is
    ``finetune(..., label_fraction=1.0, trainable=False)``.

    L-BFGS protocol:

    Features are standardised with statistics of the data the classifier is
    fit on; the inverse L2 strength ``C`` is chosen on a stratified held-out
    ``val_fraction`` of ``train``; the final classifier is refit on all of
    ``train`` with that ``C`` and scored on ``test``.  The classifier is
    scikit-learn's multinomial ``LogisticRegression(solver="lbfgs")``.

    Args:
        encoder: Keras model mapping float32 images ``[B, H, W, C]`` in
            [0, 1] to ``[B, D]`` features; called with ``training=False``.
        train: a ``tf.data.Dataset`` of ``(image, label)`` (batched or not,
            uint8 or float) or a tuple ``(images, labels)`` of NumPy arrays.
        test: evaluation data, in the same forms as ``train``.
        l2_grid: candidate values of ``C`` (inverse L2 regularisation
            strength; larger = weaker).  Defaults to
            ``np.logspace(-4, 2, 7)``.  With a single value no validation
            split is made.
        val_fraction: fraction of ``train`` held out to choose ``C``.
        seed: seed of the train/validation split (and of the solver).
        max_iter: L-BFGS iteration limit (a ``ConvergenceWarning`` names the
            values of ``C`` that hit it).
        batch_size: images per encoder call (see ``extract_features``).
        return_details: if True, return a dict with ``accuracy``, the chosen
            ``C``, ``val_accuracies`` (``{C: accuracy}``), ``train_accuracy``,
            ``not_converged`` and the fitted ``classifier`` and ``scaler``
            (``sgd``: ``accuracy`` and the trained ``model``).
        protocol: ``"lbfgs"`` or ``"sgd"``.
        epochs, learning_rate, augment: the ``sgd`` protocol's schedule and
            training augmentation (a layer called with ``training=True``, or
            ``"crop_flip"``).

    Returns:
        Test accuracy as a Python float (or the details dict).

    Raises:
        ValueError: empty data, a single training class, or images that do
            not fit the encoder.

    Example:

    ```python
    import keras, numpy as np
    from keras_contrastive.evaluation import linear_probe

    rng = np.random.default_rng(0)
    labels = np.arange(200) % 2
    images = (rng.random((200, 4, 4, 1)) * 0.5 + 0.5 * labels[:, None, None, None]).astype("float32")
    encoder = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten()])
    details = linear_probe(encoder, (images[:100], labels[:100]), (images[100:], labels[100:]),
                           return_details=True)
    print(details["accuracy"], details["C"])
    ```
    """
    if protocol == "sgd":
        return _sgd_probe(encoder, train, test, seed, batch_size, return_details, epochs,
                          learning_rate, augment)
    if protocol != "lbfgs":
        raise ValueError(f"`protocol` must be 'lbfgs' or 'sgd', got {protocol!r}.")
    train_features, train_labels = extract_features(encoder, train, batch_size=batch_size)
    test_features, test_labels = extract_features(encoder, test, batch_size=batch_size)
    return linear_probe_from_features(
        train_features,
        train_labels,
        test_features,
        test_labels,
        l2_grid=l2_grid,
        val_fraction=val_fraction,
        seed=seed,
        max_iter=max_iter,
        return_details=return_details,
    )


def _sgd_probe(encoder, train, test, seed, batch_size, return_details, epochs, learning_rate,
               augment):
    from keras_contrastive.evaluation.finetune import crop_flip, finetune

    train, test = labelled_arrays(train, batch_size), labelled_arrays(test, batch_size)
    if augment == "crop_flip":
        augment = crop_flip(train[0].shape[1], train[0].shape[2], seed=seed)
    result = finetune(encoder, train, test, label_fraction=1.0, epochs=epochs,
                      batch_size=batch_size, learning_rate=learning_rate, trainable=False,
                      seed=seed, augment=augment, standardize_features=True)
    if return_details:
        return {"accuracy": result["accuracy"], "model": result["model"], "protocol": "sgd"}
    return result["accuracy"]


def probe_classifier(details):
    """The fitted probe of ``linear_probe(..., return_details=True)`` as one
    function ``features [B, D] -> class scores [B, classes]`` (standardisation
    folded into the weights), e.g. for ``random_crop_test``.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.evaluation import linear_probe_from_features, probe_classifier
    >>> x = np.random.default_rng(0).normal(size=(60, 3)); y = (x[:, 0] > 0).astype(int)
    >>> details = linear_probe_from_features(x, y, x, y, return_details=True)
    >>> scores = probe_classifier(details)(x.astype("float32"))
    >>> float(np.mean(np.argmax(scores, 1) == y)) == details["accuracy"]
    True
    """
    import tensorflow as tf

    scaler, classifier = details["scaler"], details["classifier"]
    coef, intercept = classifier.coef_, classifier.intercept_
    if coef.shape[0] == 1:  # two classes: scikit-learn keeps one row, for class 1
        coef, intercept = np.concatenate([-coef, coef]), np.concatenate([-intercept, intercept])
    weights = (coef / scaler.scale_).T.astype("float32")
    bias = (intercept - (scaler.mean_ / scaler.scale_) @ coef.T).astype("float32")

    def scores(features, training=False):
        return tf.matmul(tf.cast(features, tf.float32), weights) + bias

    return scores
