"""Semi-supervised evaluation: fine-tune the whole encoder on a fraction of the labels."""
import keras
import numpy as np
import tensorflow as tf

from keras_contrastive.data.arrays import set_autotune, to_unit_float
from keras_contrastive.evaluation.features import check_labels


def label_fraction_subset(labels, fraction, seed=0):
    """Indices of a class-balanced ``fraction`` of ``labels``, reproducible by ``seed``.

    Each class contributes ``round(fraction * its count)`` examples (at least
    one), drawn without replacement; the indices are sorted.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.evaluation import label_fraction_subset
    >>> labels = np.repeat(np.arange(3), 100)
    >>> np.bincount(labels[label_fraction_subset(labels, 0.1)]).tolist()
    [10, 10, 10]
    """
    labels = np.asarray(labels)
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"`fraction` must be in (0, 1], got {fraction!r}.")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = max(1, int(round(fraction * len(members))))
        chosen.append(rng.choice(members, size=count, replace=False))
    return np.sort(np.concatenate(chosen))


def crop_flip(height, width, scale=(0.08, 1.0), seed=None):
    """The training augmentation of the ImageNet linear and fine-tuning protocols:
    a random resized crop of ``scale`` of the area, then a horizontal flip.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.evaluation import crop_flip
    >>> augment = crop_flip(28, 28, seed=0)
    >>> augment(np.zeros((2, 28, 28, 1), "float32"), training=True).shape
    TensorShape([2, 28, 28, 1])
    """
    from keras_contrastive.views.random_resized_crop import RandomResizedCrop

    return keras.Sequential([RandomResizedCrop(height, width, scale=scale, seed=seed),
                             keras.layers.RandomFlip("horizontal", seed=seed)], name="crop_flip")


def _precise_batch_norm(network, images):
    """Sets every BN layer's moving statistics to those of ``images`` ("precise BN").

    A short fine-tuning run leaves the moving averages (momentum 0.99) far
    from the tuned network's statistics; inference would then use stale ones.
    """
    layers = [layer for layer in network._flatten_layers()
              if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    network(images, training=True)
    for layer, momentum in zip(layers, saved):
        layer.momentum = momentum


def finetune(encoder, train, test, label_fraction=0.1, epochs=10, batch_size=128,
             learning_rate=0.01, trainable=True, seed=0, augment=None, verbose=0,
             standardize_features=False):
    """Trains ``encoder`` + a linear classifier on a class-balanced label fraction.

    The semi-supervised protocol of SimCLR and LeOCLR: the whole network is
    fine-tuned (``trainable=False`` freezes the encoder: a linear probe by
    SGD) with SGD (momentum 0.9, Nesterov) and cosine decay on
    :func:`label_fraction_subset` of ``train``, then evaluated on ``test``.
    The encoder is cloned, so the caller's weights do not change.  After
    fine-tuning, batch-norm statistics are re-estimated on the labelled
    subset ("precise BN"): a short run leaves the moving averages stale.

    Args:
        encoder: images in [0, 1] -> features ``[B, D]``.
        train, test: ``(images, labels)`` NumPy arrays (uint8 or float in [0, 1]).
        label_fraction: share of the training labels (0.01, 0.1, ...).
        epochs, batch_size, learning_rate: the schedule.
        trainable: fine-tune the encoder (True) or only the classifier.
        seed: seed of the subset and of the classifier's init.
        augment: optional layer applied to training batches (e.g. a
            ``RandomResizedCrop`` + flip), in training mode.
        standardize_features: with a frozen encoder (``trainable=False``),
            standardise its features by their mean and std on (up to 4,096
            of) the labelled images before the classifier, as the
            parameter-free BatchNormalization of MAE's and MoCo v3's linear
            protocol does; SGD then works whatever the features' scale.

    Returns:
        ``{"accuracy": ..., "train_examples": ..., "model": the fine-tuned model}``.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive import backbones
    >>> from keras_contrastive.evaluation import finetune
    >>> x = np.random.randint(0, 256, (64, 28, 28, 1), dtype="uint8")
    >>> y = np.arange(64) % 4
    >>> result = finetune(backbones.small_cnn((28, 28, 1)), (x, y), (x, y),
    ...                   label_fraction=0.5, epochs=1)
    >>> result["train_examples"]
    32
    """
    images, labels = (np.asarray(a) for a in train)
    test_images, test_labels = (np.asarray(a) for a in test)
    labels = check_labels(labels, len(images))
    test_labels = check_labels(test_labels, len(test_images), "test labels")
    subset = label_fraction_subset(labels, label_fraction, seed)
    num_classes = int(max(labels.max(), test_labels.max())) + 1

    def as_float(x):
        return to_unit_float(x).numpy()

    keras.utils.set_random_seed(seed)
    clone = keras.models.clone_model(encoder)
    clone.set_weights(encoder.get_weights())
    clone.trainable = trainable
    inputs = keras.Input(clone.input_shape[1:])
    x = augment(inputs, training=True) if augment is not None else inputs
    features = clone(x, training=trainable)
    if standardize_features:
        if trainable:
            raise ValueError("`standardize_features` needs `trainable=False`: it fixes the "
                             "statistics of a frozen encoder's features.")
        norm = keras.layers.Normalization(axis=-1, name="feature_norm")
        norm.adapt(clone.predict(as_float(images[subset][:4096]), batch_size=512, verbose=0))
        features = norm(features)
    model = keras.Model(inputs, keras.layers.Dense(num_classes, name="classifier")(features))
    steps = max(1, int(np.ceil(len(subset) / batch_size))) * epochs
    model.compile(
        optimizer=keras.optimizers.SGD(keras.optimizers.schedules.CosineDecay(
            learning_rate, steps), momentum=0.9, nesterov=True),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])
    # Keras' own pre-build (it runs it only under a strategy): metrics, loss and
    # slots created inside the first trace would make it trace the step twice
    symbolic_build = getattr(model, "_symbolic_build", None)
    if symbolic_build is not None:
        symbolic_build(data_batch=(as_float(images[:1]), labels[:1]))
    data = tf.data.Dataset.from_tensor_slices((as_float(images[subset]), labels[subset]))
    data = set_autotune(data.shuffle(len(subset), seed=seed).batch(batch_size).prefetch(2))
    model.fit(data, epochs=epochs, verbose=verbose)
    if trainable:
        _precise_batch_norm(clone, as_float(images[subset][:2048]))
    _, accuracy = model.evaluate(as_float(test_images), test_labels, batch_size=512, verbose=0)
    return {"accuracy": float(accuracy), "train_examples": int(len(subset)), "model": model}
