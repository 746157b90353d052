"""What a pretraining run depends on: ``PretrainConfig``, its presets and the
optimizers' protocol defaults.

A field's docstring entry is also its command-line help, and its
``metadata`` its choices (``pretraining.flags`` generates the CLI and recipe
flags from them).  A method's own optimizer settings live in its
registration (``MethodSpec.optimizer``).

This module imports no TensorFlow: it reads the methods through
:func:`known_methods` (the registry once ``keras_contrastive.models`` is
imported, else the generated manifest), so ``keras-contrastive --help`` and
``--print-config`` answer at once.

Example:

>>> from keras_contrastive.pretraining.config import PRESETS
>>> PRESETS["quality"].width, PRESETS["demo"].width
(16, 8)
"""
import dataclasses
import sys

from keras_contrastive._checks import check_number, image_size_pair

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
#: the built-in backbones (``pretraining.BACKBONES`` builds them; a test checks
#: they agree); ``backbone`` also takes ``keras_hub:<preset>``
BACKBONE_NAMES = ("resnet18", "resnet50", "vit_small", "vit_tiny", "vit_micro", "small_cnn")
KERAS_HUB_PREFIX = "keras_hub:"


@dataclasses.dataclass(frozen=True)
class MethodSummary:
    """What the configuration and the command line know of a method without
    importing it (:func:`known_methods`).

    Attributes:
        name: the method's name (``--method``).
        title: its paper's name for it ("SimCLR").
        description: one line on what it does (its class's docstring).
        reads: the view keys training reads (``MethodSpec.reads``).
        takes_anchor: whether it takes ``anchor``.
        uses_temperature: whether its loss reads ``temperature``.
        optimizer: its protocol optimizer settings (``MethodSpec.optimizer``).

    Example:

    >>> from keras_contrastive.pretraining.config import known_methods
    >>> moco = {m.name: m for m in known_methods()}["moco_v2"]
    >>> moco.title, moco.reads_local_views, moco.uses_temperature
    ('MoCo v2', True, True)
    """

    name: str
    title: str
    description: str
    reads: tuple
    takes_anchor: bool
    uses_temperature: bool
    optimizer: dict

    @property
    def reads_local_views(self):
        return "local" in self.reads

    @property
    def needs_labels(self):
        return "labels" in self.reads


def known_methods():
    """The methods a run may name, as :class:`MethodSummary` objects sorted by name:
    the method registry's when ``keras_contrastive.models`` is imported (methods
    registered at run time included), else the generated manifest of the
    built-in ones (``keras_contrastive/_method_manifest.py``), which needs no
    TensorFlow.

    Example:

    >>> from keras_contrastive.pretraining.config import known_methods
    >>> [m.name for m in known_methods() if m.takes_anchor]
    ['byol', 'simclr']
    """
    registry = sys.modules.get("keras_contrastive.models.registry")
    if registry is not None and registry.method_names():
        entries = registry.manifest_entries()
    else:
        from keras_contrastive._method_manifest import METHODS as entries
    return tuple(MethodSummary(**entry) for entry in entries)


def known_method_names():
    """The names of :func:`known_methods` (``--method``'s choices).

    >>> from keras_contrastive.pretraining.config import known_method_names
    >>> known_method_names()[:2]
    ('barlow_twins', 'byol')
    """
    return tuple(method.name for method in known_methods())


def _method_optimizer(method):
    """The method's protocol optimizer settings (``{}``: the shared SGD, or an unknown name)."""
    return next((m.optimizer for m in known_methods() if m.name == method), {})


def _field(default, choices=None, methods=None, bounds=None, prefixes=None, parse=None):
    """A field with its flag's ``choices`` (a tuple, or a function returning one),
    ``methods``, a predicate on :class:`MethodSummary` naming the methods it applies
    to in the flag's help, ``bounds``, the range its value must lie in
    (``_checks.check_number``'s ``low``, ``high``, ``low_open``), and
    ``prefixes``, the starts of values allowed beside the choices, and ``parse``,
    ``parse(value, name)`` -> the value the field holds (its flag's text parsed
    too; a ValueError naming ``name``)."""
    metadata = {key: value for key, value in (("choices", choices), ("methods", methods),
                                              ("bounds", bounds), ("prefixes", prefixes),
                                              ("parse", parse))
                if value is not None}
    return dataclasses.field(default=default, metadata=metadata)


def _square_or_pair(size):
    """An image size as a config holds it: an int for a square, else ``(height, width)``."""
    return size[0] if size[0] == size[1] else tuple(size)


_POSITIVE = {"low": 0, "low_open": True}
_FRACTION = {"low": 0, "high": 1}
_AT_LEAST_0 = {"low": 0}
_AT_LEAST_1 = {"low": 1}


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
            ``stem``), ``vit_small`` (ViT-S/16), ``vit_tiny`` (patch 4), ``vit_micro``
            (patch 4, 96 wide, 4 blocks: a CPU-sized ViT), ``small_cnn`` (three
            conv-BN-ReLU blocks of ``width``, 2x and 4x channels: quick runs), or
            ``keras_hub:PRESET``, a keras-hub backbone preset (a name or a
            local directory) with the preset's weights.
        width: ResNet width (16 in the quality protocol, 64 standard); the
            first block's channels of ``small_cnn``.
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
            inside the key crop (0.2 in the paper; default: unconstrained).
        max_iou: IoU bound of the two global crops (default: none).
        stronger: A+, the strong policy (flip + RandAugment) on half of the non-key
            views.
        jitter_strength: SimCLR colour-jitter strength (0.5 gives
            brightness/contrast 0.4).
        image_size: views' size, N (square) or H,W; folder and TFDS images are
            resized to it when read (default: the images' own size; a folder of
            several sizes: their median height and width, printed).
        train_subset: pretrain on the first N training images (default: all).
        eval_train_subset: labelled training images for kNN / linear (default: all).
        eval_test_subset: test images for kNN / linear (default: all).
        eval_dataset: the labelled data set (a folder of class sub-folders or a
            TFDS name) the encoder is evaluated on, resized to the run's size
            (default: dataset itself; a dataset without labels is then not
            evaluated).
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

    method: str = _field("simclr", choices=known_method_names)
    dataset: str = "fashion_mnist"
    epochs: int = _field(5, bounds=_AT_LEAST_1)
    batch_size: int = _field(256, bounds=_AT_LEAST_1)
    backbone: str = _field("resnet18", choices=BACKBONE_NAMES, prefixes=(KERAS_HUB_PREFIX,))
    width: int = _field(16, bounds=_AT_LEAST_1)
    stem: str = _field("cifar", choices=("cifar", "imagenet"))
    learning_rate: float = _field(None, bounds=_POSITIVE)
    momentum: float = _field(0.9, bounds=_FRACTION)
    weight_decay: float = _field(None, bounds=_AT_LEAST_0)
    warmup_epochs: int = _field(None, bounds=_AT_LEAST_0)
    temperature: float = _field(0.1, methods=lambda spec: spec.uses_temperature,
                                bounds=_POSITIVE)
    projection_dim: int = _field(128, bounds=_AT_LEAST_1)
    anchor: str = _field("crop", choices=("crop", "original"),
                         methods=lambda spec: spec.takes_anchor)
    crop_scale: tuple = (0.2, 1.0)
    local_crops: int = _field(0, methods=lambda spec: spec.reads_local_views,
                              bounds=_AT_LEAST_0)
    local_size: int = _field(None, bounds=_AT_LEAST_1)
    min_overlap: float = _field(None, bounds={"low": 0, "high": 1, "low_open": True})
    max_iou: float = _field(None, bounds={"low": 0, "high": 1, "low_open": True})
    stronger: bool = False
    jitter_strength: float = _field(0.5, bounds=_AT_LEAST_0)
    image_size: int = _field(None, parse=lambda value, name: _square_or_pair(
        image_size_pair(value, name)))
    train_subset: int = _field(None, bounds=_AT_LEAST_1)
    eval_train_subset: int = _field(None, bounds=_AT_LEAST_1)
    eval_test_subset: int = _field(None, bounds=_AT_LEAST_1)
    eval_dataset: str = None
    knn_k: int = _field(200, bounds=_AT_LEAST_1)
    knn_temperature: float = _field(0.1, bounds=_POSITIVE)
    seed: int = _field(0, bounds=_AT_LEAST_0)
    optimizer: str = _field(None, choices=OPTIMIZERS)
    key_momentum: float = _field(0.99, bounds=_FRACTION)
    augment_on: str = _field("data", choices=("data", "device"))
    blur_prob: float = _field(0.0, bounds=_FRACTION)
    deterministic: bool = False
    model_options: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        """Checks each bounded field that is set (``_checks.check_number``): a run
        of 0 epochs, a subset of 0 images or a negative learning rate is refused
        before anything is built, naming the field."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if "parse" in field.metadata and value is not None:
                object.__setattr__(self, field.name, field.metadata["parse"](value, field.name))
            if "bounds" in field.metadata and value is not None:
                check_number(field.name, value, integer=field.type is int,
                             **field.metadata["bounds"])

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
    # in a few minutes on two CPU cores (its 3 epochs took 391 s, `make demo` 8.5
    # minutes from a fresh clone: benchmarks/results/make_demo_fresh_clone_f8081c5_2026-12-06.txt).
    "demo": PretrainConfig(
        epochs=3,
        width=8,
        eval_train_subset=10_000,
        eval_test_subset=2_000,
    ),
}
#: what each preset is for (``--help`` prints it with the preset's changes)
PRESET_NOTES = {
    "quality": "the library's quality protocol: ResNet-18 (width 16, CIFAR stem) on "
               "Fashion-MNIST, 5 epochs, kNN and linear probe on all labels (BENCHMARKS.md)",
    "demo": "a shorter run of it (3 epochs, width 8: about 7 minutes on two CPU cores)",
}


def preset_changes(name):
    """``{field: value}`` where preset ``name`` departs from ``PretrainConfig()``.

    >>> from keras_contrastive.pretraining.config import preset_changes
    >>> preset_changes("demo")
    {'epochs': 3, 'width': 8, 'eval_train_subset': 10000, 'eval_test_subset': 2000}
    """
    preset, base = PRESETS[name], PretrainConfig()
    return {field.name: getattr(preset, field.name) for field in dataclasses.fields(preset)
            if getattr(preset, field.name) != getattr(base, field.name)}


def resolved_settings(config):
    """``config``'s fields and the settings the run derives from them (the optimizer,
    peak learning rate, weight decay and warm-up of the method's protocol), as
    ``{name: value}``: what ``keras-contrastive pretrain --print-config`` prints.

    >>> from keras_contrastive.pretraining.config import PRESETS, resolved_settings
    >>> settings = resolved_settings(PRESETS["demo"].replace(method="byol", batch_size=512))
    >>> settings["width"], settings["optimizer_name"], settings["peak_learning_rate"]
    (8, 'sgd', 1.0)
    """
    return {**dataclasses.asdict(config), "optimizer_name": config.optimizer_name,
            "peak_learning_rate": config.peak_learning_rate,
            "effective_weight_decay": config.effective_weight_decay,
            "effective_warmup_epochs": config.effective_warmup_epochs}

#: The base of every paper's setup (``--preset paper``: ``MethodSpec.paper.settings``
#: over it): ResNet-50 on ImageNet at 224 px, MoCo-v2's views, evaluated on all
#: labels; the warm-up is explicit (0), not the protocol's per-method one.
PAPER_BASE = PretrainConfig(
    dataset="imagenet2012", backbone="resnet50", width=64, stem="imagenet",
    image_size=224, crop_scale=(0.2, 1.0), jitter_strength=0.5, blur_prob=0.5,
    momentum=0.9, warmup_epochs=0)
