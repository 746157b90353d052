"""I-JEPA (Assran et al. 2023): predict a momentum target encoder's patch representations of
target blocks from a context block."""
import keras
import tensorflow as tf
from keras import layers

from keras_contrastive import distribute
from keras_contrastive._checks import check_number, is_int
from keras_contrastive.backbones.vit import transformer_block, vit_stages
from keras_contrastive.losses.ijepa import ijepa_loss
from keras_contrastive.models.base import MomentumTargetModel
from keras_contrastive.models.registry import MethodSpec, Paper, linear_scaling, register_method
from keras_contrastive.state import MomentumEncoder
from keras_contrastive.views.masking import multiblock_masks


@keras.saving.register_keras_serializable(package="keras_contrastive")
class PredictorTokens(keras.layers.Layer):
    """I-JEPA's predictor input: the context tokens ``[B, 1 + K, D]`` (the CLS
    token, then the ``K`` context patches) with the predictor's learned
    position embeddings of their patches (``context_ids`` ``[B, K]``) added,
    followed by one learned mask token per target patch (``target_ids``
    ``[B, T]``) plus its position embedding: ``[B, 1 + K + T, D]``.

    Args:
        num_patches: ``N``, the patches of an image.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.models.ijepa import PredictorTokens
    >>> layer = PredictorTokens(num_patches=16)
    >>> context = np.ones((2, 1 + 3, 8), "float32")
    >>> layer(context, np.array([[0, 1, 2]] * 2), np.array([[9, 10]] * 2)).shape
    TensorShape([2, 6, 8])
    """

    def __init__(self, num_patches, **kwargs):
        super().__init__(**kwargs)
        self.num_patches = int(num_patches)

    def build(self, context_shape, context_ids_shape=None, target_ids_shape=None):
        dim = context_shape[-1]
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.mask_token = self.add_weight(shape=(1, 1, dim), initializer=init, name="mask_token")
        self.position = self.add_weight(shape=(1 + self.num_patches, dim), initializer=init,
                                        name="position")

    def call(self, context, context_ids, target_ids):
        position = tf.cast(self.position, context.dtype)
        cls = tf.zeros_like(context_ids[:, :1])
        context = context + tf.gather(position, tf.concat([cls, context_ids + 1], axis=1))
        targets = tf.cast(self.mask_token, context.dtype) + tf.gather(position, target_ids + 1)
        return tf.concat([context, targets], axis=1)

    def compute_output_shape(self, context_shape, context_ids_shape=None, target_ids_shape=None):
        return (context_shape[0], None, context_shape[-1])

    def get_config(self):
        return {**super().get_config(), "num_patches": self.num_patches}


def _predictor(encoder_dim, num_patches, dim, depth, num_heads):
    """context tokens, context ids, target ids -> every token's prediction
    ``[B, 1 + K + T, encoder_dim]`` (the last ``T``: the targets')."""
    context = keras.Input((None, encoder_dim), name="context")
    context_ids = keras.Input((None,), dtype="int32", name="context_ids")
    target_ids = keras.Input((None,), dtype="int32", name="target_ids")
    x = layers.Dense(dim, name="predictor_embed")(context)
    x = PredictorTokens(num_patches, name="mask_tokens")(x, context_ids, target_ids)
    for index in range(depth):
        x = transformer_block(x, dim, num_heads, 4, index)
    x = layers.LayerNormalization(epsilon=1e-6, name="predictor_norm")(x)
    x = layers.Dense(encoder_dim, name="predictor_proj")(x)
    return keras.Model([context, context_ids, target_ids], x, name="predictor")


def _range(name, value, low, high):
    """``value`` as a ``(low, high)`` pair of floats inside ``[low, high]``, ascending."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"`{name}` must be a pair (low, high), got {name}={value!r}.")
    pair = tuple(check_number(name, v, low=low, high=high) for v in value)
    if pair[0] > pair[1]:
        raise ValueError(f"`{name}` must be ascending, got {name}={value!r}.")
    return pair


@keras.saving.register_keras_serializable(package="keras_contrastive")
class IJEPA(MomentumTargetModel):
    """I-JEPA: from one context block of an image, a narrow ViT predictor
    predicts the patch representations a momentum target encoder gives ``M``
    target blocks of the same image; L2 in representation space, no pixels,
    no hand-made augmentations.

    Each step draws the multi-block masks of the global batch
    (:func:`keras_contrastive.views.multiblock_masks`, keyed by ``(seed, the
    optimizer's step)``, each replica taking its images' rows, so 2 replicas
    equal 1): ``M`` target blocks of scale ``target_scale``, aspect
    ``target_aspect``, and a context block of scale ``context_scale`` with the
    target patches removed.  The context encoder (``encoder``, a ViT) runs
    on the CLS token and the context patches only; the target encoder (an EMA
    copy, :class:`~keras_contrastive.state.MomentumEncoder`, momentum from
    ``momentum`` to 1 on the library's cosine schedule over the run) on the
    whole image, without gradient.  For each target block the predictor
    embeds the context encoder's tokens to ``predictor_dim``, adds its own
    position embeddings, appends a mask token at each target patch's position,
    runs ``predictor_depth`` Transformer blocks and projects the mask tokens
    back; :func:`keras_contrastive.losses.ijepa_loss` compares them with the
    layer-normed target representations of those patches.  One view: the
    first global view (crops only in the paper: set ``jitter_strength=0``).

    The representation (what evaluation and export use,
    :meth:`feature_extractor`) is the target encoder's CLS features, as the
    paper evaluates the target encoder; the predictor is for training only.
    The token counts change from step to step, so the step runs without XLA
    whatever ``compile`` says (``jit_compile`` is False; the loss core is
    still XLA-compiled).

    Args:
        encoder: a ViT from :func:`keras_contrastive.backbones.vit` (or
            ``vit_tiny``), images in [0, 1] -> its CLS features.
        num_targets: ``M`` target blocks (4).
        target_scale, target_aspect, context_scale: the masks' ranges
            ((0.15, 0.2), (0.75, 1.5), (0.85, 1.0) in the paper).
        predictor_dim, predictor_depth, predictor_num_heads: the predictor's
            size (384 wide, 12 deep for ViT-H in the paper; 6 for ViT-B).
        momentum: the target's base momentum (0.996 in the paper).
        total_steps: length of the momentum schedule (default: the ``fit`` run).
        seed: seed of the masks.

    Example:

    >>> import keras, tensorflow as tf
    >>> from keras_contrastive import backbones, models, views
    >>> images = tf.random.uniform([16, 28, 28, 1], maxval=256, dtype=tf.int32, seed=0)
    >>> data = views.make_views(tf.data.Dataset.from_tensor_slices(tf.cast(images, "uint8")),
    ...                         views.simclr_augment(28, channels=1, seed=0), batch_size=16)
    >>> encoder = backbones.vit((28, 28, 1), patch_size=7, dim=16, depth=1, num_heads=2)
    >>> model = models.IJEPA(encoder, predictor_dim=16, predictor_depth=1, predictor_num_heads=2)
    >>> model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    >>> history = model.fit(data, epochs=1, verbose=0)
    >>> model.feature_extractor() is model.target.target  # the target encoder is exported
    True
    """

    config_fields = ("num_targets", "target_scale", "target_aspect", "context_scale",
                     "predictor_dim", "predictor_depth", "predictor_num_heads", "momentum",
                     "total_steps", "seed")

    def __init__(self, encoder, num_targets=4, target_scale=(0.15, 0.2),
                 target_aspect=(0.75, 1.5), context_scale=(0.85, 1.0), predictor_dim=384,
                 predictor_depth=6, predictor_num_heads=12, momentum=0.996, total_steps=None,
                 seed=0, **kwargs):
        super().__init__(encoder, **kwargs)
        try:
            self.stages = vit_stages(encoder)
        except ValueError as error:
            raise ValueError(f"I-JEPA encodes a context block of a ViT's patches: {error} "
                             "(a run: --backbone vit_tiny).") from None
        self.keep_config(locals())
        for name in ("num_targets", "predictor_dim", "predictor_depth", "predictor_num_heads"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise ValueError(f"`{name}` must be an integer >= 1, got {name}={value!r}.")
        if predictor_dim % predictor_num_heads:
            raise ValueError(f"`predictor_dim`={predictor_dim} must be a multiple of "
                             f"`predictor_num_heads`={predictor_num_heads}.")
        if not is_int(seed):
            raise ValueError(f"`seed` must be an integer, got seed={seed!r}.")
        self.target_scale = _range("target_scale", target_scale, 0, 1)
        self.target_aspect = _range("target_aspect", target_aspect, 1e-3, 1e3)
        self.context_scale = _range("context_scale", context_scale, 0, 1)
        self.num_patches = self.stages.grid ** 2
        self.target = MomentumEncoder(encoder, momentum, schedule="cosine",
                                      total_steps=total_steps, name="target")
        self.target_stages = vit_stages(self.target.target)
        self.predictor = _predictor(self.feature_dim, self.num_patches, predictor_dim,
                                    predictor_depth, predictor_num_heads)
        self.built = True

    @property
    def online(self):
        """The network the target follows: the context encoder."""
        return self.encoder

    @property
    def jit_compile(self):
        """Always False: the token counts change from step to step (XLA needs them fixed)."""
        return False

    @jit_compile.setter
    def jit_compile(self, value):
        del value  # compile(jit_compile=...) and "auto" alike: the step runs without XLA

    def feature_extractor(self, image_shape=None):
        """The target encoder (the paper evaluates it): images -> its CLS features."""
        return self.target.target

    def sample_masks(self, batch):
        """``(context_ids [batch, K], target_ids [batch, M, T])`` of this replica's
        images: the global batch's masks, drawn alike on every replica from
        ``(seed, the optimizer's step)``, sliced."""
        optimizer = getattr(self, "optimizer", None)
        step = optimizer.iterations if optimizer is not None else tf.constant(0, tf.int64)
        key = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)])
        context, targets = multiblock_masks(
            batch * distribute.num_replicas(), self.stages.grid, key, self.num_targets,
            self.target_scale, self.target_aspect, self.context_scale)
        offset = distribute.global_offset(batch)
        return context[offset:offset + batch], targets[offset:offset + batch]

    def predict_targets(self, images, context_ids, target_ids, training=False):
        """``(predictions, targets, target_tokens)``: the predictor's ``[B, M, T, D]``,
        the target encoder's patch representations of the same patches (before
        the loss's layer norm) and its tokens of the whole image ``[B, 1 + N, D]``."""
        tokens = self.stages.embed(images, training=training)
        context = tf.concat([tokens[:, :1],
                             tf.gather(tokens[:, 1:], context_ids, batch_dims=1)], axis=1)
        encoded = self.stages.transformer(context, training=training)
        target_tokens = tf.stop_gradient(self.target_stages.transformer(
            self.target_stages.embed(images, training=training), training=training))
        targets = tf.gather(target_tokens[:, 1:], target_ids, batch_dims=1)  # [B, M, T, D]
        shape = tf.shape(target_ids)
        batch, blocks, count = shape[0], shape[1], shape[2]
        out = self.predictor([tf.repeat(encoded, blocks, axis=0),
                              tf.repeat(context_ids, blocks, axis=0),
                              tf.reshape(target_ids, [batch * blocks, count])], training=training)
        predictions = tf.reshape(out[:, -count:], [batch, blocks, count, -1])
        return predictions, targets, target_tokens

    def compute_objective(self, views, training):
        images = views["global"][0]  # one view, as the paper
        context_ids, target_ids = self.sample_masks(tf.shape(images)[0])
        predictions, targets, target_tokens = self.predict_targets(
            images, context_ids, target_ids, training)
        return ijepa_loss(predictions, targets), {"embeddings": target_tokens[:, 0]}


register_method(MethodSpec(
    "ijepa", IJEPA,
    Paper("I-JEPA", "Assran, Duval, Misra, Bojanowski, Vincent, Rabbat, LeCun, Ballas: "
          "Self-Supervised Learning from Images with a Joint-Embedding Predictive "
          "Architecture (CVPR 2023)",
          dict(backbone="vit_small", batch_size=2048, epochs=300, optimizer="adamw",
               learning_rate=linear_scaling(1e-3 * 256 / 2048, 2048), weight_decay=0.04,
               warmup_epochs=40, crop_scale=(0.3, 1.0), jitter_strength=0.0, blur_prob=0.0,
               model_options={"num_targets": 4, "predictor_dim": 384, "predictor_depth": 6,
                              "predictor_num_heads": 12, "momentum": 0.996}),
          "79.3 % linear top-1 (ViT-H/14, 300 epochs)",
          ("ViT-S/16 in place of ViT-H/14 (the library's ViTs); the predictor of the "
           "paper's ViT-B (6 blocks)",
           "a CLS token in the encoders, the representation: the target encoder's CLS "
           "features (the paper: its average-pooled patch tokens)",
           "EMA momentum on the cosine schedule (the paper: linear 0.996 -> 1); "
           "constant weight decay (the paper: 0.04 -> 0.4)",
           "learned predictor position embeddings (the paper: fixed sine-cosine); "
           "MSE (the official code: smooth L1)",
           "horizontal flips in the crops (the paper: crops only)")),
    protocol=lambda config: {"predictor_dim": 64, "predictor_depth": 2,
                             "predictor_num_heads": 4, "momentum": 0.99},
    optimizer={"optimizer": "adamw", "base_learning_rate": 1e-3 * 256 / 2048,
               "weight_decay": 0.04, "warmup_epochs": 1},
    cpu_small_settings={"backbone": "vit_micro", "crop_scale": (0.3, 1.0), "jitter_strength": 0.0}))
