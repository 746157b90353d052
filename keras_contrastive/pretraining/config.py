"""What a pretraining run depends on: ``PretrainConfig``, its presets and the
optimizers' protocol defaults.

A field's docstring entry is also its command-line help, and its
``metadata`` its choices (``pretraining.flags`` generates the CLI and recipe
flags from them).  A method's own optimizer settings live in its
registration (``MethodSpec.optimizer``).

Example:

>>> from keras_contrastive.pretraining.config import PRESETS
>>> PRESETS["quality"].width, PRESETS["demo"].width
(16, 8)
"""
import dataclasses

from keras_contrastive.models.registry import get_method, method_names

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
OPTIMIZERS = tuple(OPTIMIZER_DEFAULTS)


def _method_optimizer(method):
    """The method's protocol optimizer settings (``{}``: the shared SGD, or an unknown name)."""
    try:
        return get_method(method).optimizer
    except ValueError:
        return {}


def _field(default, choices=None, methods=None):
    """A field with its flag's ``choices`` (a tuple, or a function returning one) and
    ``methods``, a predicate on ``MethodSpec`` naming the methods it applies to in
    the flag's help."""
    metadata = {key: value for key, value in (("choices", choices), ("methods", methods))
                if value is not None}
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """Everything a pretraining run depends on.

    Attributes:
        method: a registered method (``models.registry.method_names()``).
        dataset: ``fashion_mnist`` (or another name of ``data.NAMED_ARRAYS``), an image
            folder, or a TFDS name.
        epochs: passes over the training images.
        batch_size: global batch (pairs of views per step).
        backbone: ``resnet18``, ``resnet50`` (ResNets of ``width`` and
            ``stem``), ``vit_small`` (ViT-S/16) or ``vit_tiny`` (patch 4).
        width: ResNet width (16 in the quality protocol, 64 standard).
        stem: ResNet stem, ``cifar`` or ``imagenet``.
        learning_rate: peak rate; default the method's (``MethodSpec.optimizer``),
            else 0.06*B/256 (SGD), 0.2*B/256 (LARS), 0.3*B/256 (LARC), 5e-4*B/256
            (AdamW, Adam).
        momentum: SGD/LARS momentum.
        weight_decay: default the method's, else 5e-4 (SGD), 1e-6 (LARS), 1e-4
            (LARC), 0.04 (AdamW), 0 (Adam).
        warmup_epochs: linear learning-rate warm-up before the cosine decay
            (default the method's, else 0).
        temperature: the loss temperature of the methods that take one (0.1: best of
            0.5/0.2/0.1/0.05 in the sweep recorded in BENCHMARKS.md).
        projection_dim: projection head output size.
        anchor: ``original`` makes the uncropped image the anchor of both
            crops (LeOCLR's strategy), for a method that takes ``anchor``.
        crop_scale: RandomResizedCrop area range (of the global crops).
        local_crops: multi-crop: local crops per image (0: two crops only), for a
            method that reads ``views["local"]``.
        local_size: local crops' size (default 3*size//7: 12 px for 28 px, 96 px
            for 224 px).
        min_overlap: constrained multi-crop: least share of each local crop
            inside the key crop (0.2 in the paper).
        max_iou: IoU bound of the two global crops.
        stronger: A+, the strong policy (flip + RandAugment) on half of the non-key
            views.
        jitter_strength: SimCLR colour-jitter strength (0.5 gives
            brightness/contrast 0.4).
        image_size: views' size; folder and TFDS images are resized to it when
            read (default: the images' own size, which they must then share).
        train_subset: pretrain on the first N training images.
        eval_train_subset: labelled training images for kNN / linear (default: all).
        eval_test_subset: test images for kNN / linear (default: all).
        knn_k: kNN protocol: neighbours.
        knn_temperature: kNN protocol: temperature of the vote.
        seed: global seed.
        optimizer: ``sgd``, ``lars``, ``larc`` (LARS with eta 0.02 and the
            local rate clipped at the learning rate), ``adamw`` or ``adam``
            (default: the method's; SGD for most).
        key_momentum: MoCo-family key-encoder momentum (0.99, MoCo's CIFAR value).
        augment_on: make the views in tf.data (``data``) or inside the training
            step (``device``).
        blur_prob: Gaussian-blur probability of the views (ImageNet recipes: 0.5).
        deterministic: same seed, same run: TensorFlow's op determinism, and
            views whose random draws are a function of the seed, the epoch and
            the batch, so two runs (and a killed-and-resumed one) end with
            bit-identical weights on the same machine; slower (RELIABILITY.md).
        model_options: keyword arguments of the model class that override the
            protocol's (``MethodSpec.protocol``), e.g. the papers' head sizes.

    Example:

    >>> from keras_contrastive.pretraining import PRESETS
    >>> config = PRESETS["demo"].replace(method="moco_v2", epochs=1)
    >>> config.method, config.width, config.peak_learning_rate
    ('moco_v2', 8, 0.06)
    """

    method: str = _field("simclr", choices=method_names)
    dataset: str = "fashion_mnist"
    epochs: int = 5
    batch_size: int = 256
    backbone: str = "resnet18"
    width: int = 16
    stem: str = _field("cifar", choices=("cifar", "imagenet"))
    learning_rate: float = None
    momentum: float = 0.9
    weight_decay: float = None
    warmup_epochs: int = None
    temperature: float = _field(0.1, methods=lambda spec: spec.uses_temperature)
    projection_dim: int = 128
    anchor: str = _field("crop", choices=("crop", "original"),
                         methods=lambda spec: spec.takes_anchor)
    crop_scale: tuple = (0.2, 1.0)
    local_crops: int = _field(0, methods=lambda spec: spec.reads_local_views)
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
    optimizer: str = _field(None, choices=OPTIMIZERS)
    key_momentum: float = 0.99
    augment_on: str = _field("data", choices=("data", "device"))
    blur_prob: float = 0.0
    deterministic: bool = False
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
        ``warmup_epochs``): the method's ``MethodSpec.optimizer`` entry if the run
        uses the method's optimizer, else the optimizer's protocol default."""
        settings = _method_optimizer(self.method)
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
        """``optimizer``, or the method's default (``MethodSpec.optimizer``, else SGD)."""
        return self.optimizer or _method_optimizer(self.method).get("optimizer", "sgd")


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

#: The base of every paper's setup (``--preset paper``: ``MethodSpec.paper.settings``
#: over it): ResNet-50 on ImageNet at 224 px, MoCo-v2's views, evaluated on all
#: labels; the warm-up is explicit (0), not the protocol's per-method one.
PAPER_BASE = PretrainConfig(
    dataset="imagenet2012", backbone="resnet50", width=64, stem="imagenet",
    image_size=224, crop_scale=(0.2, 1.0), jitter_strength=0.5, blur_prob=0.5,
    momentum=0.9, warmup_epochs=0)
