"""One pretraining run end to end: data -> views -> model.fit -> evaluation.

The CLI (``keras-contrastive pretrain``), ``make demo`` and
``benchmarks/quality.py`` all run this, so their numbers come from the same
protocol.  ``PRESETS["quality"]`` is the library's quality protocol on
Fashion-MNIST (see BENCHMARKS.md); ``PRESETS["demo"]`` a shorter run of it
that fits in a few minutes on two CPU cores.

Example:

>>> from keras_contrastive.pretraining import PRESETS, pretrain
>>> config = PRESETS["demo"].replace(epochs=1, train_subset=512, eval_train_subset=512,
...                                  eval_test_subset=256, width=4)
>>> result = pretrain(config, verbose=0)  # doctest: +SKIP
>>> sorted(result.metrics)  # doctest: +SKIP
['knn_acc', 'linear_acc', 'random_knn_acc', 'random_linear_acc']
"""
import dataclasses
import os
import time

import keras
import numpy as np
import tensorflow as tf

from keras_contrastive import backbones, distribute, models, views
from keras_contrastive import data as kc_data
from keras_contrastive.evaluation import evaluate_encoder
from keras_contrastive.optimizers import LARS, warmup_cosine

# How each method is built on the protocol's encoder.  Heads are sized for a
# 128-d (width 16) backbone rather than the papers' 2048/4096-d ImageNet
# heads; MoCo's queue holds 16 batches and its key encoder uses MoCo's CIFAR
# momentum 0.99 (0.999 is tuned for ImageNet's 5000 steps per epoch).
def _make(cls, encoder, config, **defaults):
    """``cls(encoder, **defaults)`` with ``config.model_options`` overriding the defaults."""
    try:
        return cls(encoder, **{**defaults, **config.model_options})
    except (TypeError, ValueError) as error:  # an option the class does not take, or a bad value
        if not config.model_options:
            raise
        raise ValueError(f"model_options {sorted(config.model_options)} for {config.method!r}: "
                         f"{error}") from None


METHODS = {
    "simclr": lambda encoder, config: _make(
        models.SimCLR, encoder, config, projection_dim=config.projection_dim,
        temperature=config.temperature, anchor=config.anchor),
    # MoCo v1: linear 128-d head, at the protocol's temperature
    "moco_v1": lambda encoder, config: _make(
        models.MoCo, encoder, config, version=1, queue_size=16 * config.batch_size,
        momentum=config.key_momentum, temperature=config.temperature,
        projection_dim=config.projection_dim),
    "moco_v2": lambda encoder, config: _make(
        models.MoCo, encoder, config, version=2, queue_size=16 * config.batch_size,
        momentum=config.key_momentum, temperature=config.temperature,
        projection_dim=config.projection_dim, hidden_dim=512),
    # MoCo v3 at the protocol's temperature (its ResNet default 1.0 is tuned for
    # ImageNet at batch 4096; CIFAR recipes use 0.2)
    "moco_v3": lambda encoder, config: _make(
        models.MoCoV3, encoder, config, projection_dim=config.projection_dim, hidden_dim=512,
        temperature=config.temperature),
    # BYOL with solo-learn's CIFAR target momentum 0.99 -> 1 (0.996 is the
    # paper's ImageNet base, 5000 steps an epoch)
    "byol": lambda encoder, config: _make(
        models.BYOL, encoder, config, projection_dim=config.projection_dim, hidden_dim=512,
        momentum=0.99, anchor=config.anchor),
    "simsiam": lambda encoder, config: _make(
        models.SimSiam, encoder, config, projection_dim=512, predictor_dim=128),
    "nnclr": lambda encoder, config: _make(
        models.NNCLR, encoder, config, support_size=16 * config.batch_size,
        temperature=config.temperature, projection_dim=config.projection_dim, hidden_dim=512,
        prediction_hidden_dim=512),
    # the source papers' methods, at MoCo-v2's protocol settings above
    "knn_moco": lambda encoder, config: _make(
        models.KNNMoCo, encoder, config, queue_size=16 * config.batch_size,
        momentum=config.key_momentum, warmup_epochs=1, temperature=config.temperature,
        projection_dim=config.projection_dim, hidden_dim=512),
    "leoclr": lambda encoder, config: _make(
        models.LeOCLR, encoder, config, queue_size=16 * config.batch_size,
        momentum=config.key_momentum, temperature=config.temperature,
        projection_dim=config.projection_dim, hidden_dim=512),
    # redundancy reduction: 3-layer 512-d projectors in place of the papers'
    # 8192-d ones (a 128-d encoder on 60k images)
    "barlow_twins": lambda encoder, config: _make(
        models.BarlowTwins, encoder, config, projection_dim=512, hidden_dim=512),
    "vicreg": lambda encoder, config: _make(
        models.VICReg, encoder, config, projection_dim=512, hidden_dim=512),
    # SwAV with the paper's CIFAR-scale head and fewer prototypes (10 classes)
    "swav": lambda encoder, config: _make(
        models.SwAV, encoder, config, projection_dim=config.projection_dim, hidden_dim=512,
        num_prototypes=300, temperature=config.temperature),
    # DINO on the ResNet: BN in the head (official --use_bn_in_head), a 1024-way
    # output, the paper's default teacher temperature 0.04 without warm-up
    "dino": lambda encoder, config: _make(
        models.DINO, encoder, config, out_dim=1024, hidden_dim=512, bottleneck_dim=128,
        use_bn_in_head=True, teacher_temperature=0.04, warmup_teacher_temperature_epochs=0),
    # pretext tasks; jigsaw's encoder reads 8x8 tiles, so it gets the same
    # backbone for any input size; colorization's reads the lightness channel
    "rotation": lambda encoder, config: _make(models.RotationPrediction, encoder, config),
    "jigsaw": lambda encoder, config: _make(
        models.Jigsaw, build_backbone(config, (None, None, encoder.input_shape[-1])), config,
        num_permutations=100),
    "inpainting": lambda encoder, config: _make(models.Inpainting, encoder, config),
    "colorization": lambda encoder, config: _make(
        models.Colorization, build_backbone(config, encoder.input_shape[1:3] + (1,)), config),
    # CPC: 7x7 patches of 6 px at stride 3 on 28x28, the same backbone as patch encoder
    "cpc": lambda encoder, config: _make(
        models.CPC, build_backbone(config, (None, None, encoder.input_shape[-1])), config,
        grid=7, prediction_steps=2),
    # supervised contrastive (uses the training labels: an upper reference,
    # not a self-supervised result)
    "supcon": lambda encoder, config: _make(
        models.SupCon, encoder, config, projection_dim=config.projection_dim,
        temperature=config.temperature),
}
# Per-method optimizer settings of the protocol, where the shared SGD (lr
# 0.06 * B/256, weight decay 5e-4, no warm-up) was measured to fail the method
# (BENCHMARKS.md): VICReg's loss reached Inf at step 7 under it (LARS at lr
# 0.2, trust ratio 0.001, weight decay 1e-6, the paper's optimizer, fell
# slowly: kNN 0.7831; LARC below reached 0.8217);
# BYOL and SimSiam ended below random init after 5 epochs (kNN 0.7376 and
# 0.6882 against 0.7656) and reached 0.7796 and 0.7817 with SGD at lr 0.5,
# weight decay 1e-5 (solo-learn's CIFAR SimSiam setting) and 1 warm-up epoch;
# NNCLR rose from 0.8132 to 0.8241 and MoCo v3 from 0.7935 to 0.8179 with
# them (MoCo-v2 only from 0.7989 to 0.8014: it keeps the shared SGD), SwAV
# from 0.7631 to 0.8094 and DINO from 0.7715 to 0.7996.  Barlow Twins rose
# from 0.7818 to 0.8051 under LARC (LARS, eta 0.02, clipped; lr 0.3, wd
# 1e-4, solo-learn's CIFAR setting for both).
# ``base_learning_rate`` is per 256 images; the settings apply when the run
# uses the method's optimizer (another ``optimizer`` gets that one's defaults).
_HIGH_LR_SGD = {"optimizer": "sgd", "base_learning_rate": 0.5, "weight_decay": 1e-5,
                "warmup_epochs": 1}
DEFAULT_OPTIMIZERS = {
    "vicreg": {"optimizer": "larc", "warmup_epochs": 1},
    "byol": _HIGH_LR_SGD,
    "simsiam": _HIGH_LR_SGD,
    "nnclr": _HIGH_LR_SGD,
    "moco_v3": _HIGH_LR_SGD,
    "swav": _HIGH_LR_SGD,
    "dino": _HIGH_LR_SGD,
    "barlow_twins": {"optimizer": "larc", "warmup_epochs": 1},
    # CPC's unnormalised dot-product scores: under the shared SGD its loss rose
    # from 44 to 126 in the second epoch; the paper trains with Adam at 2e-4
    "cpc": {"optimizer": "adam", "base_learning_rate": 2e-4},
}
# each optimizer's protocol settings where neither the run nor the method
# sets them; "trust_ratio" holds the LARS optimizers' trust-ratio arguments
OPTIMIZER_DEFAULTS = {
    "sgd": {"base_learning_rate": 0.06, "weight_decay": 5e-4, "warmup_epochs": 0},
    "lars": {"base_learning_rate": 0.2, "weight_decay": 1e-6, "warmup_epochs": 0,
             "trust_ratio": {"eta": 0.001, "clip": False}},
    # LARS with eta 0.02 and the rate clipped (LARC): solo-learn's CIFAR
    # setting for Barlow Twins, VICReg and DINO (lr 0.3, wd 1e-4)
    "larc": {"base_learning_rate": 0.3, "weight_decay": 1e-4, "warmup_epochs": 0,
             "trust_ratio": {"eta": 0.02, "clip": True}},
    "adamw": {"base_learning_rate": 5e-4, "weight_decay": 0.04, "warmup_epochs": 0},
    "adam": {"base_learning_rate": 5e-4, "weight_decay": 0.0, "warmup_epochs": 0},
}
# methods that take `anchor` ("original": LeOCLR's uncropped image as the anchor)
ANCHOR_METHODS = ("simclr", "byol")


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """Everything a pretraining run depends on.

    Attributes:
        method: a key of ``METHODS``.
        dataset: ``"fashion_mnist"``, an image folder path, or a TFDS name.
        epochs: passes over the training images.
        batch_size: global batch (pairs of views per step).
        backbone: ``"resnet18"``, ``"resnet50"`` (ResNets of ``width`` and
            ``stem``), ``"vit_small"`` (ViT-S/16) or ``"vit_tiny"`` (patch 4).
        width: ResNet width (16 in the quality protocol, 64 standard).
        stem: ``"cifar"`` or ``"imagenet"``.
        learning_rate: peak rate; default ``0.06 * batch_size / 256`` (SGD),
            ``0.2 * batch_size / 256`` (LARS), ``0.3 * batch_size / 256``
            (LARC), ``5e-4 * batch_size / 256``
            (AdamW, Adam), or the method's (``DEFAULT_OPTIMIZERS``).
        momentum: SGD/LARS momentum.
        weight_decay: default 5e-4 (SGD), 1e-6 (LARS), 1e-4 (LARC), 0.04 (AdamW), 0 (Adam),
            or the method's.
        warmup_epochs: linear learning-rate warm-up before the cosine decay
            (default 0, or the method's).
        temperature: NT-Xent temperature (0.1: best of 0.5/0.2/0.1/0.05 in
            the sweep recorded in BENCHMARKS.md).
        projection_dim: projection head output size.
        anchor: ``"original"`` makes the uncropped image the anchor of both
            crops (LeOCLR's strategy) for ``simclr`` and ``byol``; ``leoclr``
            always does.
        crop_scale: RandomResizedCrop area range (of the global crops).
        local_crops: multi-crop: local crops per image (0: two crops only);
            they need a method that reads ``views["local"]`` (moco_v2,
            knn_moco, swav, dino).
        local_size: local crops' size (default ``3 * size // 7``: 12 px for
            28 px, 96 px for 224 px).
        min_overlap: constrained multi-crop: least share of each local crop
            inside the key crop (0.2 in the paper).
        max_iou: IoU bound of the two global crops.
        stronger: A+, the strong policy on half of the non-key views.
        jitter_strength: SimCLR colour-jitter strength (0.5 gives
            brightness/contrast 0.4).
        image_size: views' size (default: the images' own size).
        train_subset: use only the first N training images for pretraining.
        eval_train_subset / eval_test_subset: labelled images for kNN/linear.
        knn_k, knn_temperature: kNN protocol.
        seed: global seed.
        optimizer: ``"sgd"``, ``"lars"``, ``"larc"`` (LARS with eta 0.02 and
            the local rate clipped at the learning rate), ``"adamw"`` or ``"adam"`` (default:
            the method's, ``DEFAULT_OPTIMIZERS``; SGD for most).
        key_momentum: MoCo-family key-encoder momentum (0.99, MoCo's CIFAR value).
        augment_on: ``"data"`` (views made in ``tf.data``) or ``"device"``
            (made inside the training step; ``make_views(augment_on=...)``).
        blur_prob: Gaussian-blur probability of the views (ImageNet recipes: 0.5).
        model_options: keyword arguments of the model class that override the
            protocol's (``METHODS``), e.g. the papers' head sizes.

    Example:

    >>> from keras_contrastive.pretraining import PRESETS
    >>> config = PRESETS["demo"].replace(method="moco_v2", epochs=1)
    >>> config.method, config.width, config.peak_learning_rate
    ('moco_v2', 8, 0.06)
    """

    method: str = "simclr"
    dataset: str = "fashion_mnist"
    epochs: int = 5
    batch_size: int = 256
    backbone: str = "resnet18"
    width: int = 16
    stem: str = "cifar"
    learning_rate: float = None
    momentum: float = 0.9
    weight_decay: float = None
    warmup_epochs: int = None
    temperature: float = 0.1
    projection_dim: int = 128
    anchor: str = "crop"
    crop_scale: tuple = (0.2, 1.0)
    local_crops: int = 0
    local_size: int = None
    min_overlap: float = None
    max_iou: float = None
    stronger: bool = False
    jitter_strength: float = 0.5
    image_size: int = None
    train_subset: int = None
    eval_train_subset: int = None
    eval_test_subset: int = None
    knn_k: int = 200
    knn_temperature: float = 0.1
    seed: int = 0
    optimizer: str = None
    key_momentum: float = 0.99
    augment_on: str = "data"
    blur_prob: float = 0.0
    model_options: dict = dataclasses.field(default_factory=dict)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def replace_given(self, **changes):
        """``replace`` with only the changes that have a value (``None`` keeps the field):
        command-line flags left unset keep the preset's settings.

        >>> from keras_contrastive.pretraining import PretrainConfig
        >>> config = PretrainConfig().replace_given(epochs=2, learning_rate=None)
        >>> config.epochs, config.learning_rate
        (2, None)
        """
        return self.replace(**{k: v for k, v in changes.items() if v is not None})

    def _default(self, name):
        """Setting ``name`` (``base_learning_rate``, ``weight_decay``,
        ``warmup_epochs``): the method's ``DEFAULT_OPTIMIZERS`` entry if the run
        uses the method's optimizer, else the optimizer's protocol default."""
        settings = DEFAULT_OPTIMIZERS.get(self.method, {})
        if self.optimizer_name == settings.get("optimizer", "sgd") and name in settings:
            return settings[name]
        return OPTIMIZER_DEFAULTS.get(self.optimizer_name, OPTIMIZER_DEFAULTS["sgd"])[name]

    @property
    def peak_learning_rate(self):
        if self.learning_rate is not None:
            return self.learning_rate
        return self._default("base_learning_rate") * self.batch_size / 256

    @property
    def effective_weight_decay(self):
        """``weight_decay``, or the method's or the optimizer's protocol default."""
        return self.weight_decay if self.weight_decay is not None else self._default(
            "weight_decay")

    @property
    def effective_warmup_epochs(self):
        """``warmup_epochs``, or the method's default (0 for most)."""
        return self.warmup_epochs if self.warmup_epochs is not None else self._default(
            "warmup_epochs")

    @property
    def optimizer_name(self):
        """``optimizer``, or the method's default (``DEFAULT_OPTIMIZERS``, else SGD)."""
        return self.optimizer or DEFAULT_OPTIMIZERS.get(self.method, {}).get("optimizer", "sgd")


PRESETS = {
    "quality": PretrainConfig(),
    # ResNet-18 at width 8: about half the step time of width 16, and its
    # random-init features are weaker, so the demo shows what pretraining adds
    # in about 5 minutes on two CPU cores (BENCHMARKS.md, "demo preset").
    "demo": PretrainConfig(
        epochs=3,
        width=8,
        eval_train_subset=10_000,
        eval_test_subset=2_000,
    ),
}


@dataclasses.dataclass
class PretrainResult:
    model: keras.Model
    history: dict
    seconds: float
    pairs_per_s: float
    metrics: dict


def load_labelled(dataset, split, image_size=None):
    """``(images, labels)`` NumPy arrays of a named data set's split.

    ``dataset`` is ``"fashion_mnist"``, ``"fashion_mnist_tinted"``
    (`data.load_tinted_fashion_mnist_arrays`), a folder (``train``/``test``
    sub-folders each holding class sub-folders, or class sub-folders alone,
    used for both splits), or a TFDS name prepared in TFDS' data dir.

    Example:

    >>> from keras_contrastive.pretraining import load_labelled
    >>> images, labels = load_labelled("fashion_mnist", "test")
    >>> images.shape, labels.shape
    ((10000, 28, 28, 1), (10000,))
    """
    if dataset in kc_data.NAMED_ARRAYS:
        return kc_data.load_named_arrays(dataset, split)
    if os.path.isdir(dataset):
        split_dir = os.path.join(dataset, split)
        root = split_dir if os.path.isdir(split_dir) else dataset
        ds = kc_data.from_directory(root, image_size=image_size)
    else:
        ds = kc_data.from_tfds(dataset, split=split)
    images, labels = [], []
    for element in ds.batch(1024).as_numpy_iterator():
        if not isinstance(element, tuple):
            raise ValueError(
                f"{dataset!r} split {split!r} has no labels: evaluation needs them."
            )
        images.append(element[0])
        labels.append(element[1])
    return np.concatenate(images), np.concatenate(labels)


def build_model(config, input_shape):
    """The protocol's ResNet-18 encoder wrapped in the method's model (not compiled).

    Example:

    >>> from keras_contrastive.pretraining import PretrainConfig, build_model
    >>> model = build_model(PretrainConfig(method="byol", width=4), (28, 28, 1))
    >>> type(model).__name__, model.get_config()["hidden_dim"]
    ('BYOL', 512)
    """
    if config.method not in METHODS:
        raise ValueError(
            f"unknown method {config.method!r}; choose one of {sorted(METHODS)}."
        )
    if config.anchor != "crop" and config.method not in ANCHOR_METHODS:
        raise ValueError(
            f"anchor={config.anchor!r} is for {' and '.join(ANCHOR_METHODS)} (leoclr always "
            f"anchors on the original image); {config.method!r} takes anchor='crop'.")
    return METHODS[config.method](build_backbone(config, input_shape), config)


BACKBONES = {
    "resnet18": lambda shape, config: backbones.resnet18(shape, width=config.width,
                                                         stem=config.stem),
    "resnet50": lambda shape, config: backbones.resnet50(shape, width=config.width,
                                                         stem=config.stem),
    # ViT-S/16 (DINO's ViT-S: 384-d, 12 blocks, 6 heads) and the small ViT
    "vit_small": lambda shape, config: backbones.vit(shape, patch_size=16, dim=384, depth=12,
                                                     num_heads=6, name="vit_small"),
    "vit_tiny": lambda shape, config: backbones.vit_tiny(shape),
}


def build_backbone(config, input_shape):
    """``config.backbone`` for images of ``input_shape``.

    Example:

    >>> from keras_contrastive.pretraining import PretrainConfig, build_backbone
    >>> build_backbone(PretrainConfig(backbone="resnet18", width=8), (28, 28, 1)).output_shape
    (None, 64)
    """
    if config.backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {config.backbone!r}; choose one of "
                         f"{sorted(BACKBONES)}.")
    return BACKBONES[config.backbone](input_shape, config)


def encoder_input_shape(config, size, channels):
    """The encoder's input shape: any size when local crops are smaller than the
    global ones (a ViT takes any size anyway; its global size sets its grid).

    Example:

    >>> from keras_contrastive.pretraining import PretrainConfig, encoder_input_shape
    >>> encoder_input_shape(PretrainConfig(), 28, 1)
    (28, 28, 1)
    >>> encoder_input_shape(PretrainConfig(local_crops=4), 28, 1)  # local crops are 12 px
    (None, None, 1)
    """
    if config.local_crops and not config.backbone.startswith("vit"):
        return (None, None, channels)
    return (size, size, channels)


def uses_view_strategy(config):
    """Whether ``config`` asks for multi-crop, constrained, IoU-limited or A+ views.

    Example:

    >>> from keras_contrastive.pretraining import PretrainConfig, uses_view_strategy
    >>> uses_view_strategy(PretrainConfig()), uses_view_strategy(PretrainConfig(stronger=True))
    (False, True)
    """
    return bool(config.local_crops or config.min_overlap or config.max_iou or config.stronger)


def build_augment(config, size, channels):
    """The run's views: SimCLR's two-crop augmentation, or a ``MultiCrop`` strategy.

    Example:

    >>> from keras_contrastive.pretraining import PretrainConfig, build_augment
    >>> type(build_augment(PretrainConfig(local_crops=4, min_overlap=0.2), 28, 1)).__name__
    'MultiCrop'
    """
    grayscale = 0.0 if channels == 1 else 0.2
    if not uses_view_strategy(config):
        return views.simclr_augment(size, channels=channels, strength=config.jitter_strength,
                                    crop_scale=config.crop_scale, grayscale_prob=grayscale,
                                    blur_prob=config.blur_prob, seed=config.seed)
    if config.min_overlap and not config.local_crops:
        raise ValueError("min_overlap constrains local crops: set local_crops > 0 too.")
    return views.MultiCrop(
        size, config.local_size or 3 * size // 7, num_local=config.local_crops,
        global_scale=config.crop_scale, min_overlap=config.min_overlap, max_iou=config.max_iou,
        stronger=config.stronger, channels=channels, strength=config.jitter_strength,
        grayscale_prob=grayscale, seed=config.seed)


OPTIMIZERS = tuple(OPTIMIZER_DEFAULTS)


def build_optimizer(config, steps_per_epoch):
    """SGD (momentum, decoupled weight decay), LARS (biases and BN excluded),
    LARC (LARS with eta 0.02 and the local rate clipped), AdamW or Adam, with ``warmup_epochs`` of linear warm-up and cosine decay to 0.

    Example:

    >>> from keras_contrastive.pretraining import PretrainConfig, build_optimizer
    >>> optimizer = build_optimizer(PretrainConfig(optimizer="lars", warmup_epochs=1), 100)
    >>> type(optimizer).__name__, float(optimizer.learning_rate)  # warming up from 0
    ('LARS', 0.0)
    """
    if config.optimizer_name not in OPTIMIZERS:
        raise ValueError(f"`optimizer` must be one of {OPTIMIZERS}, got {config.optimizer!r}.")
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(config.effective_warmup_epochs * steps_per_epoch, total - 1)
    schedule = warmup_cosine(config.peak_learning_rate, total, warmup)
    decay = config.effective_weight_decay
    trust_ratio = OPTIMIZER_DEFAULTS[config.optimizer_name].get("trust_ratio")
    if trust_ratio is not None:  # LARS or LARC
        return LARS(schedule, momentum=config.momentum, weight_decay=decay, **trust_ratio)
    if config.optimizer_name == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=decay)
    if config.optimizer_name == "adam":
        return keras.optimizers.Adam(schedule, weight_decay=decay or None)
    return keras.optimizers.SGD(schedule, momentum=config.momentum, weight_decay=decay)


def evaluate(encoder, train, test, config):
    """kNN (top-1, and top-5 with more than 5 classes) and linear-probe
    accuracy of a frozen encoder, on one extraction of its features.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive import backbones
    >>> from keras_contrastive.pretraining import PretrainConfig, evaluate, load_labelled
    >>> images, labels = load_labelled("fashion_mnist", "test")
    >>> metrics = evaluate(backbones.resnet18((28, 28, 1), width=4), (images[:300], labels[:300]),
    ...                    (images[300:400], labels[300:400]), PretrainConfig(knn_k=20))
    >>> sorted(metrics)
    ['knn_acc', 'knn_top5_acc', 'linear_acc']
    """
    return evaluate_encoder(encoder, train, test, ("knn", "linear"), knn_k=config.knn_k,
                            knn_temperature=config.knn_temperature, seed=config.seed)


class _EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.epoch_seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._start)


def _subset(arrays, n):
    images, labels = arrays
    return (images[:n], labels[:n]) if n else (images, labels)


def write_view_summary(logdir, view_batches, max_images=8):
    """Writes the first batch's views as TensorBoard images (``logdir/views``).

    Example:

    >>> import tempfile
    >>> import numpy as np, tensorflow as tf
    >>> from keras_contrastive import views
    >>> from keras_contrastive.pretraining import write_view_summary
    >>> images = np.zeros((8, 28, 28, 1), np.uint8)
    >>> pairs = views.make_views(tf.data.Dataset.from_tensor_slices(images),
    ...                          views.simclr_augment(28, channels=1), batch_size=4)
    >>> write_view_summary(tempfile.mkdtemp(), pairs)  # logdir/views: global_0, global_1
    """
    writer = tf.summary.create_file_writer(os.path.join(logdir, "views"))
    batch = next(iter(view_batches.take(1)))
    with writer.as_default():
        for key, value in batch.items():
            if key == "labels":
                continue
            for index, images in enumerate(value if isinstance(value, (tuple, list)) else [value]):
                images = images[:max_images]
                scale = 1 / 255 if images.dtype == tf.uint8 else 1.0
                images = tf.cast(images, tf.float32) * scale
                if images.shape.rank == 4 and images.shape[-1] in (1, 3):
                    tf.summary.image(f"{key}_{index}", tf.clip_by_value(images, 0.0, 1.0),
                                     step=0, max_outputs=max_images)
    writer.flush()


def pretrain(config, callbacks=(), verbose=1, evaluate_random_init=True, log=print,
             evaluator=evaluate, strategy=None, logdir=None):
    """Pretrains ``config.method`` and evaluates it (and random init).

    ``evaluator(encoder, (images, labels), (images, labels), config)`` returns
    the metrics dict (default: :func:`evaluate`, kNN and linear probe).
    ``strategy``: a ``tf.distribute`` strategy to build and train under
    (``config.batch_size`` is the global batch; under
    ``MultiWorkerMirroredStrategy`` every worker takes its replicas' slices
    of each global batch, ``AutoShardPolicy.DATA``).  ``logdir``: TensorBoard
    logs: loss and representation health every 10 steps and epoch, the kNN
    accuracy on (up to) 2,000 / 1,000 of the labelled images each epoch, and
    an image summary of the first batch of views.
    Returns a :class:`PretrainResult`; ``pairs_per_s`` is view pairs per
    second over the median epoch (the first epoch includes tracing).

    Example:

    >>> from keras_contrastive.pretraining import PRESETS, pretrain
    >>> config = PRESETS["quality"].replace(epochs=1, batch_size=64, width=4, train_subset=256,
    ...                                     eval_train_subset=200, eval_test_subset=100)
    >>> result = pretrain(config, verbose=0, evaluate_random_init=False, log=lambda *a: None)
    >>> sorted(result.metrics), len(result.history["loss"])
    (['knn_acc', 'knn_top5_acc', 'linear_acc'], 1)
    """
    keras.utils.set_random_seed(config.seed)
    train = load_labelled(config.dataset, "train", config.image_size)
    test = load_labelled(config.dataset, "test", config.image_size)
    pretrain_images, pretrain_labels = _subset(train, config.train_subset)
    eval_train = _subset(train, config.eval_train_subset)
    eval_test = _subset(test, config.eval_test_subset)
    height, width, channels = pretrain_images.shape[1:]
    size = config.image_size or height
    augment = build_augment(config, size, channels)
    # local crops are smaller than global ones: the encoder takes any size then
    # (a ViT takes any size anyway; its global size sets the position grid)
    encoder_shape = ((None, None, channels) if config.local_crops and
                     not config.backbone.startswith("vit") else (size, size, channels))
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = build_model(config, encoder_shape)  # refuses bad settings before any work
    original_augment = None
    if model.needs_original_view:
        original_augment = views.simclr_augment(
            size, channels=channels, strength=config.jitter_strength, crop_scale=None,
            grayscale_prob=0.0 if channels == 1 else 0.2, seed=config.seed + 100,
        )
    # supervised contrastive methods (SupCon) see the labels; the others never do
    source = ((pretrain_images, pretrain_labels) if model.needs_labels else pretrain_images)
    maker = views.ViewMaker(augment, original_augment=original_augment)
    if config.augment_on == "device":
        model.device_views = maker  # the step makes the views of each batch of images
    view_batches = views.make_views(
        tf.data.Dataset.from_tensor_slices(source),
        maker,
        batch_size=config.batch_size,
        seed=config.seed,
        labels=model.needs_labels,
        augment_on=config.augment_on,
    )
    model.check_views(view_batches)  # refuse unusable views before any evaluation
    if distribute.is_multi_worker(strategy):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA)
        view_batches = view_batches.with_options(options)
    steps = len(pretrain_images) // config.batch_size
    with strategy.scope():
        model.compile(optimizer=build_optimizer(config, steps))

    metrics = {}
    # built once: it shares the encoder's weights, so it reads them after training too
    extractor = model.feature_extractor((size, size, channels))
    if evaluate_random_init:
        log(f"Evaluating the encoder at random init on {len(eval_train[0])}/"
            f"{len(eval_test[0])} labelled images ...")
        random_init = evaluator(extractor, eval_train, eval_test, config)
        metrics.update({f"random_{k}": v for k, v in random_init.items()})
    log(f"Pretraining {config.method} on {len(pretrain_images)} images of "
        f"{config.dataset}: {config.epochs} epochs of {steps} steps, batch {config.batch_size}")
    timer = _EpochTimer()
    callbacks = [timer, *callbacks]
    if logdir:
        from keras_contrastive.callbacks import KNNMonitor, TensorBoard

        write_view_summary(logdir, view_batches)
        # the monitor first: TensorBoard then logs its val_knn_acc
        callbacks = [KNNMonitor(_subset(eval_train, 2000), _subset(eval_test, 1000),
                                k=min(config.knn_k, 2000), temperature=config.knn_temperature),
                     *callbacks, TensorBoard(logdir, update_freq=10)]
    start = time.perf_counter()
    history = model.fit(view_batches, epochs=config.epochs, callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    pairs_per_s = steps * config.batch_size / float(np.median(timer.epoch_seconds))
    log("Evaluating the pretrained encoder ...")
    metrics.update(evaluator(extractor, eval_train, eval_test, config))
    return PretrainResult(model, history.history, seconds, pairs_per_s, metrics)


def format_report(config, result):
    """The run's figures as a small table (random init and pretrained rows).

    Example:

    >>> from keras_contrastive.pretraining import PRESETS, PretrainResult, format_report
    >>> config = PRESETS["quality"].replace(epochs=1)
    >>> result = PretrainResult(model=None, history={}, seconds=12.0, pairs_per_s=85.0,
    ...                         metrics={"knn_acc": 0.81, "linear_acc": 0.85})
    >>> print(format_report(config, result))
    simclr on fashion_mnist: 1 epochs in 12 s (85 view pairs/s)
    encoder            kNN acc  linear acc
    pretrained          0.8100      0.8500
    """
    m = result.metrics
    lines = [f"{config.method} on {config.dataset}: {config.epochs} epochs in "
             f"{result.seconds:.0f} s ({result.pairs_per_s:.0f} view pairs/s)"]
    columns = [("kNN acc", "knn_acc"), ("kNN top-5", "knn_top5_acc"), ("linear acc", "linear_acc")]
    columns = [(title, key) for title, key in columns if key in m]
    lines.append(f"{'encoder':<14}" + "".join(f"{title:>12}" for title, _ in columns))
    for row, prefix in (("random init", "random_"), ("pretrained", "")):
        if prefix + "knn_acc" in m:
            lines.append(f"{row:<14}" + "".join(f"{m[prefix + key]:>12.4f}" for _, key in columns))
    return "\n".join(lines)


def export_pretrained(config, result, path, version=1, overwrite=False):
    """Exports the run's encoder (``export.export_encoder``) with the run's
    data, configuration and figures in ``metadata.json``; returns the version
    directory.

    Example:

    >>> from keras_contrastive.pretraining import (
    ...     PRESETS, PretrainResult, build_model, export_pretrained)
    >>> config = PRESETS["quality"].replace(width=4, train_subset=256)
    >>> result = PretrainResult(build_model(config, (28, 28, 1)), {}, 1.0, 1.0,
    ...                         {"knn_acc": 0.5})
    >>> import tempfile
    >>> from keras_contrastive.export import read_metadata
    >>> path = export_pretrained(config, result, tempfile.mkdtemp())
    >>> read_metadata(path)["training_data"]
    'fashion_mnist[:256]'
    """
    from keras_contrastive.export import export_encoder

    training_data = config.dataset + (f"[:{config.train_subset}]" if config.train_subset else "")
    return export_encoder(result.model, path, version=version, overwrite=overwrite, metadata={
        "training_data": training_data, "metrics": result.metrics,
        "config": dataclasses.asdict(config)})
