"""What a ``PretrainConfig`` builds: the backbone, the views, the model, the optimizer.

The model comes from the method's registration (``MethodSpec``): its class,
the quality protocol's constructor arguments, and the encoder's input where
the method reads something else than whole views.  Built under a strategy of
several replicas (``pretrain(strategy=...)``, a recipe's ``--strategy
mirrored`` or ``multi_worker``), every batch norm of the backbone and the
heads takes its statistics over the global batch
(``layers.GlobalBatchNormalization``): :func:`synchronized_batch_norm`.

Example:

>>> from keras_contrastive.pretraining import PretrainConfig, build_model
>>> type(build_model(PretrainConfig(method="moco_v1", width=4), (28, 28, 1))).__name__
'MoCo'
"""
import keras
import tensorflow as tf

from keras_contrastive import backbones, views
from keras_contrastive.models.registry import get_method, method_specs
from keras_contrastive.optimizers import LARS, warmup_cosine
from keras_contrastive.pretraining.config import KERAS_HUB_PREFIX, OPTIMIZER_DEFAULTS, OPTIMIZERS

BACKBONES = {
    "resnet18": lambda shape, config: backbones.resnet18(
        shape, width=config.width, stem=config.stem, synchronized_bn=synchronized_batch_norm()),
    "resnet50": lambda shape, config: backbones.resnet50(
        shape, width=config.width, stem=config.stem, synchronized_bn=synchronized_batch_norm()),
    # ViT-S/16 (DINO's ViT-S: 384-d, 12 blocks, 6 heads) and the small ViT
    "vit_small": lambda shape, config: backbones.vit(shape, patch_size=16, dim=384, depth=12,
                                                     num_heads=6, name="vit_small"),
    "vit_tiny": lambda shape, config: backbones.vit_tiny(shape),
    "vit_micro": lambda shape, config: backbones.vit_micro(shape),
    # three conv-BN-ReLU blocks of width, 2x and 4x channels (16: 16-32-64, the
    # learning tests' encoder): a quick-run backbone, about a quarter of a
    # width-8 ResNet-18's step and a fraction of its tracing time
    "small_cnn": lambda shape, config: backbones.small_cnn(
        shape, filters=(config.width, 2 * config.width, 4 * config.width),
        synchronized_bn=synchronized_batch_norm()),
}


def synchronized_batch_norm():
    """Whether the run's batch norms synchronise: under a strategy of several
    replicas (the one whose scope is entered), so that a step on N replicas is
    the step on one device with the same global batch.

    Example:

    >>> from keras_contrastive.pretraining import synchronized_batch_norm
    >>> synchronized_batch_norm()  # no strategy: one replica
    False
    """
    return tf.distribute.get_strategy().num_replicas_in_sync > 1


def build_backbone(config, input_shape):
    """``config.backbone`` for images of ``input_shape``: a built-in one
    (``BACKBONES``), or ``keras_hub:PRESET``, a keras-hub backbone preset (a
    name or a saved preset's directory) wrapped by ``backbones.as_encoder``
    (needs the ``hub`` extra; its input must be ``input_shape``; images reach it in
    [0, 1], without the preset's normalisation).

    Example:

    >>> from keras_contrastive.pretraining import PretrainConfig, build_backbone
    >>> build_backbone(PretrainConfig(backbone="resnet18", width=8), (28, 28, 1)).output_shape
    (None, 64)
    """
    if config.backbone.startswith(KERAS_HUB_PREFIX):
        return _keras_hub_backbone(config.backbone[len(KERAS_HUB_PREFIX):], input_shape)
    if config.backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {config.backbone!r}; choose one of "
                         f"{sorted(BACKBONES)} or {KERAS_HUB_PREFIX}PRESET.")
    return BACKBONES[config.backbone](input_shape, config)


def _keras_hub_backbone(preset, input_shape):
    """The keras-hub backbone ``preset`` as an encoder of images of ``input_shape``."""
    try:
        import keras_hub
    except ImportError:
        raise ValueError(f"--backbone {KERAS_HUB_PREFIX}{preset} needs keras-hub: pip install "
                         "'keras-contrastive[hub]'.") from None
    model = keras_hub.models.Backbone.from_preset(preset)
    taken = tuple(model.inputs[0].shape[1:]) if len(model.inputs) == 1 else None
    if taken is None or len(taken) != 3 or any(
            want is not None and want != have for want, have in zip(taken, input_shape)):
        raise ValueError(f"keras-hub preset {preset!r} takes images {taken}; the views are "
                         f"{tuple(input_shape)} (set --image-size, or use a data set with "
                         f"{taken[-1] if taken else 'its'} channels).")
    return backbones.as_encoder(model)


def protocol_arguments(spec, config, num_images=None):
    """The constructor arguments the run gives ``spec``'s class: its protocol's
    (``MethodSpec.protocol``), ``temperature`` and ``anchor`` where the class takes
    them, ``num_images`` (the training images, when the run knows them) where it
    takes that (NPID's memory bank), ``synchronized_bn=True`` where it takes it
    under a strategy of several replicas (:func:`synchronized_batch_norm`), then
    ``config.model_options``.

    Example:

    >>> from keras_contrastive.models.registry import get_method
    >>> from keras_contrastive.pretraining import PretrainConfig, protocol_arguments
    >>> protocol_arguments(get_method("simclr"), PretrainConfig(model_options={"hidden_dim": 64}))
    {'projection_dim': 128, 'temperature': 0.1, 'anchor': 'crop', 'hidden_dim': 64}
    """
    arguments = dict(spec.protocol(config)) if spec.protocol is not None else {}
    if spec.uses_temperature:
        arguments.setdefault("temperature", config.temperature)
    if spec.takes_anchor:
        arguments.setdefault("anchor", config.anchor)
    if spec.takes_num_images and num_images is not None:
        arguments["num_images"] = num_images
    if "synchronized_bn" in spec.model_class.config_fields and synchronized_batch_norm():
        arguments.setdefault("synchronized_bn", True)
    return {**arguments, **config.model_options}


def build_method(spec, encoder, config, num_images=None):
    """``spec``'s model on ``encoder`` (built for the views), with the protocol's
    arguments (:func:`protocol_arguments`; ``num_images``: the training
    images).  A method with its own ``encoder_input`` gets a second backbone of ``config`` for that input (built
    after ``encoder``, so seeded runs draw the same weights as before).

    Example:

    >>> from keras_contrastive.models.registry import get_method
    >>> from keras_contrastive.pretraining import PretrainConfig, build_backbone, build_method
    >>> config = PretrainConfig(method="colorization", width=4)
    >>> model = build_method(get_method("colorization"), build_backbone(config, (28, 28, 3)),
    ...                      config)
    >>> model.encoder.input_shape  # the lightness channel
    (None, 28, 28, 1)
    """
    if spec.encoder_input is not None:
        encoder = build_backbone(config, spec.encoder_input(tuple(encoder.input_shape[1:])))
    try:
        return spec.model_class(encoder, **protocol_arguments(spec, config, num_images))
    except (TypeError, ValueError) as error:  # an option the class does not take, or a bad value
        if not config.model_options:
            raise
        raise ValueError(f"model_options {sorted(config.model_options)} for {spec.name!r}: "
                         f"{error}") from None


def build_model(config, input_shape, num_images=None):
    """The run's backbone wrapped in the method's model (not compiled).
    ``num_images``: the training images, for a method that keeps state per
    image (NPID's memory bank; else its protocol's default).

    Example:

    >>> from keras_contrastive.pretraining import PretrainConfig, build_model
    >>> model = build_model(PretrainConfig(method="byol", width=4), (28, 28, 1))
    >>> type(model).__name__, model.get_config()["hidden_dim"]
    ('BYOL', 512)
    """
    spec = get_method(config.method)
    if config.anchor != "crop" and not spec.takes_anchor:
        takes = " and ".join(s.name for s in method_specs() if s.takes_anchor)
        always = " and ".join(s.name for s in method_specs() if s.needs_original_view)
        raise ValueError(
            f"anchor={config.anchor!r} is for {takes} ({always} always anchors on the "
            f"original image); {config.method!r} takes anchor='crop'.")
    return build_method(spec, build_backbone(config, input_shape), config, num_images)


def encoder_input_shape(config, size, channels):
    """The encoder's input shape: any size when local crops are smaller than the
    global ones (a ViT takes any size anyway; its global size sets its grid).

    Example:

    >>> from keras_contrastive.pretraining import PretrainConfig, encoder_input_shape
    >>> encoder_input_shape(PretrainConfig(), 28, 1)
    (28, 28, 1)
    >>> encoder_input_shape(PretrainConfig(local_crops=4), 28, 1)  # local crops are 12 px
    (None, None, 1)
    >>> encoder_input_shape(PretrainConfig(), (24, 32), 3)  # --image-size 24,32
    (24, 32, 3)
    """
    if config.local_crops and not config.backbone.startswith("vit"):
        return (None, None, channels)
    return (*_pair(size), channels)


def _pair(size):
    """``(height, width)`` of a size given as an int (a square) or a pair."""
    return (size, size) if isinstance(size, int) else tuple(size)


def uses_view_strategy(config):
    """Whether ``config`` asks for multi-crop, constrained, IoU-limited or A+ views.

    Example:

    >>> from keras_contrastive.pretraining import PretrainConfig, uses_view_strategy
    >>> uses_view_strategy(PretrainConfig()), uses_view_strategy(PretrainConfig(stronger=True))
    (False, True)
    """
    return bool(config.local_crops or config.min_overlap or config.max_iou or config.stronger)


def build_augment(config, size, channels):
    """The run's views: SimCLR's two-crop augmentation, or a ``MultiCrop`` strategy
    (square views only).  ``size``: an int (square views) or ``(height, width)``.

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
    if not isinstance(size, int):
        raise ValueError(f"multi-crop, constrained and A+ views need square images; got "
                         f"--image-size {size[0]},{size[1]}: give one int.")
    return views.MultiCrop(
        size, config.local_size or 3 * size // 7, num_local=config.local_crops,
        global_scale=config.crop_scale, min_overlap=config.min_overlap, max_iou=config.max_iou,
        stronger=config.stronger, channels=channels, strength=config.jitter_strength,
        grayscale_prob=grayscale, seed=config.seed)


def build_view_maker(config, model, augment, size, channels):
    """The run's ``views.ViewMaker``: ``augment`` (:func:`build_augment`'s views),
    plus the original view when the model reads it (LeOCLR's anchor).

    Example:

    >>> from keras_contrastive.pretraining import (
    ...     PretrainConfig, build_augment, build_model, build_view_maker)
    >>> config = PretrainConfig(method="leoclr", width=4)
    >>> maker = build_view_maker(config, build_model(config, (28, 28, 1)),
    ...                          build_augment(config, 28, 1), 28, 1)
    >>> maker.original_augment is None
    False
    """
    original_augment = None
    if model.needs_original_view:
        original_augment = views.simclr_augment(
            size, channels=channels, strength=config.jitter_strength, crop_scale=None,
            grayscale_prob=0.0 if channels == 1 else 0.2, seed=config.seed + 100,
        )
    return views.ViewMaker(augment, original_augment=original_augment)


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
