"""MAE (He et al. 2022): a ViT encodes the visible patches, a light decoder paints the rest."""
import keras
import tensorflow as tf
from keras import layers

from keras_contrastive import distribute
from keras_contrastive._checks import is_int
from keras_contrastive.backbones.vit import transformer_block, vit_stages
from keras_contrastive.losses.mae import mae_loss, patchify
from keras_contrastive.models.base import ContrastiveModel
from keras_contrastive.models.registry import MethodSpec, Paper, linear_scaling, register_method
from keras_contrastive.views.masking import masked_count
from keras_contrastive.views.spec import MASKS_KEY


@keras.saving.register_keras_serializable(package="keras_contrastive")
class MaskTokenUnshuffle(keras.layers.Layer):
    """MAE's decoder input: the encoded tokens ``[B, 1 + K, D]`` (the CLS token,
    then the ``K`` visible patches in shuffled order) -> ``[B, 1 + N, D]``: a
    learned mask token in each hidden patch's place, every patch back in
    row-major order (``ids_restore``), the decoder's own learned position
    embeddings added.

    Args:
        num_patches: ``N``, the patches of an image.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.models.mae import MaskTokenUnshuffle
    >>> layer = MaskTokenUnshuffle(num_patches=4)
    >>> tokens = np.ones((1, 2, 8), "float32")  # the CLS token and 1 visible patch
    >>> layer(tokens, np.array([[3, 0, 1, 2]])).shape
    TensorShape([1, 5, 8])
    """

    def __init__(self, num_patches, **kwargs):
        super().__init__(**kwargs)
        self.num_patches = int(num_patches)

    def build(self, tokens_shape, ids_restore_shape=None):
        dim = tokens_shape[-1]
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.mask_token = self.add_weight(shape=(1, 1, dim), initializer=init, name="mask_token")
        self.position = self.add_weight(shape=(1, 1 + self.num_patches, dim), initializer=init,
                                        name="position")

    def call(self, tokens, ids_restore):
        batch = tf.shape(tokens)[0]
        visible = tokens[:, 1:]
        hidden = tf.tile(tf.cast(self.mask_token, tokens.dtype),
                         [batch, self.num_patches - tf.shape(visible)[1], 1])
        patches = tf.gather(tf.concat([visible, hidden], axis=1), ids_restore, batch_dims=1)
        return tf.concat([tokens[:, :1], patches], axis=1) + tf.cast(self.position, tokens.dtype)

    def compute_output_shape(self, tokens_shape, ids_restore_shape=None):
        return (tokens_shape[0], 1 + self.num_patches, tokens_shape[-1])

    def get_config(self):
        return {**super().get_config(), "num_patches": self.num_patches}


def _decoder(encoder_dim, num_patches, patch_pixels, dim, depth, num_heads):
    """encoded tokens + ids_restore -> predicted pixels of every patch ``[B, N, p*p*C]``."""
    tokens = keras.Input((None, encoder_dim), name="encoded")
    ids_restore = keras.Input((num_patches,), dtype="int32", name="ids_restore")
    x = layers.Dense(dim, name="decoder_embed")(tokens)
    x = MaskTokenUnshuffle(num_patches, name="mask_tokens")(x, ids_restore)
    for index in range(depth):
        x = transformer_block(x, dim, num_heads, 4, index)
    x = layers.LayerNormalization(epsilon=1e-6, name="decoder_norm")(x)
    x = layers.Dense(patch_pixels, name="decoder_pred")(x[:, 1:])
    return keras.Model([tokens, ids_restore], x, name="decoder")


@keras.saving.register_keras_serializable(package="keras_contrastive")
class MAE(ContrastiveModel):
    """MAE: a ViT encodes a random 25 % of each image's patches; a light
    Transformer decoder predicts the pixels of the hidden ones.

    The first global view's patch tokens (positions added) are shuffled per
    image and the first ``int(N * (1 - mask_ratio))`` kept; the encoder's
    Transformer runs on the CLS token and those alone.  The decoder embeds
    its output to ``decoder_dim``, puts a learned mask token in each hidden
    patch's place, restores the row-major order, adds its own learned
    position embeddings and runs ``decoder_depth`` blocks and a linear
    layer to each patch's ``p*p*C`` pixels.  The loss is
    :func:`keras_contrastive.losses.mae_loss` on the hidden patches
    (per-patch normalised pixels with ``norm_pix_loss``).  One view, as in
    the paper: the views' other global views (``make_views`` makes at least
    two) are not read, so crop and flip are MAE's whole augmentation in a
    paper setup.  The encoder (what export and evaluation use) is the ViT;
    the decoder is for training only.

    The mask: views from ``views.PatchMasking`` carry ``views["masks"]`` (random
    or BEiT blocks), which MAE takes (a mask hiding another number of patches
    is cut or topped up at random to ``mask_ratio``'s); without them MAE draws
    its own, from a stateless generator keyed by ``(seed, the optimizer's
    step)`` over the global batch (each replica takes its images' rows), so
    a step on 2 replicas draws the masks of the step on 1.

    Args:
        encoder: a ViT from :func:`keras_contrastive.backbones.vit` (or
            ``vit_tiny``), images in [0, 1] -> its CLS features.
        mask_ratio: share of the patches hidden (0.75 in the paper).
        decoder_dim, decoder_depth, decoder_num_heads: the decoder's size
            (512, 8, 16 in the paper).
        norm_pix_loss: per-patch normalised pixel targets (the paper's default).
        seed: seed of the masks MAE draws itself.

    Example:

    >>> import keras, tensorflow as tf
    >>> from keras_contrastive import backbones, models, views
    >>> images = tf.random.uniform([32, 28, 28, 1], maxval=256, dtype=tf.int32, seed=0)
    >>> masking = views.PatchMasking(grid=7, mode="block", seed=0)  # or no masks: MAE's own
    >>> data = views.make_views(tf.data.Dataset.from_tensor_slices(tf.cast(images, "uint8")),
    ...                         masking, batch_size=16)
    >>> encoder = backbones.vit((28, 28, 1), patch_size=4, dim=32, depth=2, num_heads=2)
    >>> model = models.MAE(encoder, decoder_dim=16, decoder_depth=1, decoder_num_heads=2)
    >>> model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    >>> history = model.fit(data, epochs=1, verbose=0)
    >>> model.feature_extractor() is encoder  # exported and evaluated: the encoder only
    True
    """

    reads_masks = True
    config_fields = ("mask_ratio", "decoder_dim", "decoder_depth", "decoder_num_heads",
                     "norm_pix_loss", "seed")

    def __init__(self, encoder, mask_ratio=0.75, decoder_dim=128, decoder_depth=2,
                 decoder_num_heads=4, norm_pix_loss=True, seed=0, **kwargs):
        super().__init__(encoder, **kwargs)
        try:
            self.stages = vit_stages(encoder)
        except ValueError as error:
            raise ValueError(f"MAE encodes the visible patches of a ViT: {error} (a run: "
                             "--backbone vit_tiny).") from None
        self.keep_config(locals())
        if decoder_dim % decoder_num_heads:
            raise ValueError(f"`decoder_dim`={decoder_dim} must be a multiple of "
                             f"`decoder_num_heads`={decoder_num_heads}.")
        if not isinstance(norm_pix_loss, bool):
            raise ValueError(f"`norm_pix_loss` must be True or False, got {norm_pix_loss!r}.")
        if not is_int(seed):
            raise ValueError(f"`seed` must be an integer, got seed={seed!r}.")
        self.patch_size = encoder.get_layer("patch_embedding").kernel_size[0]
        self.num_patches = self.stages.grid ** 2
        self.num_visible = self.num_patches - masked_count(self.num_patches, self.mask_ratio)
        channels = encoder.input_shape[-1]
        self.decoder = _decoder(self.feature_dim, self.num_patches,
                                self.patch_size ** 2 * channels, decoder_dim, decoder_depth,
                                decoder_num_heads)
        self.built = True

    def _noise(self, views, batch):
        """``[views * batch, N]`` uniform noise of this replica's images (view-major):
        the global batch's, drawn alike on every replica from ``(seed, step)``, sliced."""
        optimizer = getattr(self, "optimizer", None)
        step = optimizer.iterations if optimizer is not None else tf.constant(0, tf.int64)
        key = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)])
        replicas = distribute.num_replicas()
        noise = tf.random.stateless_uniform([views, batch * replicas, self.num_patches], key)
        offset = distribute.global_offset(batch)
        return tf.reshape(noise[:, offset:offset + batch], [views * batch, self.num_patches])

    def encode_visible(self, images, masks=None, training=False):
        """``(latent, ids_restore, hidden)``: the encoder's tokens of the CLS token
        and the visible patches ``[B, 1 + K, D]``, each image's order back to
        row-major ``[B, N]``, and its hidden patches ``[B, N]`` (1.0 hidden).
        ``masks`` (boolean ``[B, N]``) rank the hidden patches last; without
        them the noise alone orders the patches."""
        batch = tf.shape(images)[0]
        noise = self._noise(1, batch)
        return self._encode(images, noise, masks, training)

    def _encode(self, images, noise, masks, training):
        tokens = self.stages.embed(images, training=training)
        if masks is not None:
            noise = noise + tf.cast(masks, noise.dtype)
        ids_shuffle = tf.argsort(noise, axis=1)
        ids_restore = tf.argsort(ids_shuffle, axis=1)
        visible = tf.gather(tokens[:, 1:], ids_shuffle[:, :self.num_visible], batch_dims=1)
        latent = self.stages.transformer(tf.concat([tokens[:, :1], visible], axis=1),
                                         training=training)
        hidden = tf.cast(ids_restore >= self.num_visible, tf.float32)
        return latent, ids_restore, hidden

    def compute_objective(self, views, training):
        images = views["global"][0]  # one view, as the paper
        masks = views[MASKS_KEY][0] if MASKS_KEY in views else None
        latent, ids_restore, hidden = self._encode(images, self._noise(1, tf.shape(images)[0]),
                                                   masks, training)
        predictions = self.decoder([latent, ids_restore], training=training)
        loss = mae_loss(predictions, patchify(images, self.patch_size), hidden,
                        self.norm_pix_loss)
        return loss, {"embeddings": latent[:, 0]}


register_method(MethodSpec(
    "mae", MAE,
    Paper("MAE", "He, Chen, Xie, Li, Dollar, Girshick: Masked Autoencoders Are Scalable Vision "
          "Learners (CVPR 2022)",
          dict(backbone="vit_small", batch_size=4096, epochs=1600, optimizer="adamw",
               learning_rate=linear_scaling(1.5e-4, 4096), weight_decay=0.05, warmup_epochs=40,
               jitter_strength=0.0, blur_prob=0.0,
               model_options={"mask_ratio": 0.75, "decoder_dim": 512, "decoder_depth": 8,
                              "decoder_num_heads": 16}),
          "83.6 % fine-tuned top-1 (ViT-B/16, 1600 epochs)",
          ("ViT-S/16 in place of ViT-B/16 (the library's ViTs)",
           "learned decoder position embeddings (the paper: fixed sine-cosine)",
           "AdamW's betas (0.9, 0.999) (the paper: 0.95)")),
    protocol=lambda config: {},
    optimizer={"optimizer": "adamw", "base_learning_rate": 1.5e-4, "weight_decay": 0.05,
               "warmup_epochs": 1},
    cpu_small_settings={"backbone": "vit_micro"}))
