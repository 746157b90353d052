"""A CLIP-style dual encoder (Radford et al. 2021): an image tower and a text tower
trained so that each image's projection is nearest its own caption's."""
import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from keras_contrastive import distribute
from keras_contrastive.backbones.vit import transformer_block
from keras_contrastive.data.arrays import to_unit_float
from keras_contrastive.losses.clip import MAX_LOGIT_SCALE, clip_loss
from keras_contrastive.models.base import ContrastiveModel

IMAGES_KEY, TEXTS_KEY = "images", "texts"


def text_vocabulary(texts, max_tokens=None):
    """The vocabulary a ``TextVectorization`` adapts to ``texts`` (lower-cased,
    punctuation stripped, split on whitespace; most frequent first), without
    the padding and out-of-vocabulary tokens: what :class:`DualEncoder` takes.

    Example:

    >>> from keras_contrastive.models.dual_encoder import text_vocabulary
    >>> text_vocabulary(["a red bag", "a blue bag!", "a bag"])
    ['bag', 'a', 'red', 'blue']
    """
    vectorize = layers.TextVectorization(max_tokens=max_tokens)
    vectorize.adapt(tf.constant(np.asarray(texts, dtype=object).astype(str)))
    return [str(token) for token in vectorize.get_vocabulary(include_special_tokens=False)]


@keras.saving.register_keras_serializable(package="keras_contrastive")
class TokenEmbedding(layers.Layer):
    """Token ids ``[B, L]`` -> token embeddings plus learned position embeddings ``[B, L, dim]``.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.models.dual_encoder import TokenEmbedding
    >>> TokenEmbedding(vocabulary_size=10, sequence_length=4, dim=8)(np.array([[2, 3, 0, 0]])).shape
    TensorShape([1, 4, 8])
    """

    def __init__(self, vocabulary_size, sequence_length, dim, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size, self.sequence_length, self.dim = (
            int(vocabulary_size), int(sequence_length), int(dim))
        self.tokens = layers.Embedding(self.vocabulary_size, self.dim, name="tokens",
                                       embeddings_initializer=keras.initializers.RandomNormal(
                                           stddev=0.02))

    def build(self, input_shape):
        self.tokens.build(input_shape)
        self.position = self.add_weight(
            shape=(1, self.sequence_length, self.dim), name="position",
            initializer=keras.initializers.RandomNormal(stddev=0.01))

    def call(self, ids):
        return self.tokens(ids) + tf.cast(self.position, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.dim)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length, "dim": self.dim}


@keras.saving.register_keras_serializable(package="keras_contrastive")
class MaskedMeanPooling(layers.Layer):
    """The mean of the tokens ``[B, L, D]`` over the non-padding positions of ``ids``
    (id 0 is padding) -> ``[B, D]``; an empty text gives zeros.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.models.dual_encoder import MaskedMeanPooling
    >>> tokens = np.array([[[1.0], [3.0], [100.0]]], "float32")
    >>> MaskedMeanPooling()(tokens, np.array([[5, 7, 0]])).numpy()
    array([[2.]], dtype=float32)
    """

    def call(self, tokens, ids):
        keep = tf.cast(tf.not_equal(ids, 0), tokens.dtype)[..., None]
        return tf.reduce_sum(tokens * keep, 1) / tf.maximum(tf.reduce_sum(keep, 1), 1.0)

    def compute_output_shape(self, tokens_shape, ids_shape=None):
        return (tokens_shape[0], tokens_shape[-1])


def text_tower(vocabulary, sequence_length=16, dim=64, depth=2, num_heads=4):
    """Strings ``[B]`` -> text features ``[B, dim]``: a ``TextVectorization`` with
    ``vocabulary`` (padded or cut to ``sequence_length`` tokens), token and
    position embeddings, ``depth`` pre-norm Transformer blocks
    (:func:`keras_contrastive.backbones.vit.transformer_block`), a LayerNorm and
    the mean over the text's tokens (padding left out).

    Example:

    >>> import tensorflow as tf
    >>> from keras_contrastive.models.dual_encoder import text_tower
    >>> tower = text_tower(["red", "bag"], sequence_length=4, dim=8, depth=1, num_heads=2)
    >>> tower(tf.constant(["a red bag", "bag"])).shape
    TensorShape([2, 8])
    """
    texts = keras.Input((), dtype="string", name="texts")
    ids = layers.TextVectorization(vocabulary=list(vocabulary), output_sequence_length=sequence_length,
                                   name="vectorize")(texts)
    x = TokenEmbedding(len(vocabulary) + 2, sequence_length, dim, name="embed")(ids)
    for index in range(depth):
        x = transformer_block(x, dim, num_heads, 4, index)
    x = layers.LayerNormalization(epsilon=1e-6, name="text_norm")(x)
    return keras.Model(texts, MaskedMeanPooling(name="pool")(x, ids), name="text_tower")


@keras.saving.register_keras_serializable(package="keras_contrastive")
class DualEncoder(ContrastiveModel):
    """CLIP: an image tower and a text tower whose projections meet in one space.

    The image tower is ``encoder`` (any of the library's encoders, images in
    [0, 1] or uint8) and a linear projection; the text tower is
    :func:`text_tower` (``TextVectorization`` with the given ``vocabulary``,
    token embeddings, a small Transformer, mean pooling) and a linear
    projection.  The loss is :func:`keras_contrastive.losses.clip_loss`, the
    symmetric InfoNCE over the global batch (each replica gathers both
    towers' projections) with a learnt temperature: the variable
    ``log_logit_scale`` starts at ``log(1 / temperature)`` and is clipped at
    ``log(100)`` in the loss and after each step, as CLIP does.

    ``fit`` takes batches of pairs ``{"images": [B, H, W, C], "texts": [B]}``
    (strings), e.g. from :func:`keras_contrastive.data.fashion_scene_captions`;
    the vocabulary (a list of tokens, from :func:`text_vocabulary`) is part of
    the configuration, so a saved model reads text as it was trained to.
    ``embed_images`` / ``embed_texts`` give the l2-normalised projections
    (retrieval, zero-shot: :mod:`keras_contrastive.evaluation.cross_modal`);
    ``feature_extractor()`` is the image encoder, as for every method.

    Not in the method registry: the registry's runs make views of unlabelled
    images, and a dual encoder trains on image-caption pairs
    (``recipes/clip_scenes.py`` trains it; docs/ARCHITECTURE.md).

    Args:
        encoder: a ``keras.Model`` from images in [0, 1] to features ``[B, D]``.
        vocabulary: the text tower's tokens (no padding or OOV token).
        projection_dim: size of the shared space.
        sequence_length: tokens read per text (longer texts are cut).
        text_dim, text_depth, text_num_heads: the text Transformer's width, blocks, heads.
        temperature: the initial temperature (CLIP: 0.07).

    Example:

    >>> import keras, tensorflow as tf
    >>> from keras_contrastive import backbones, data, models
    >>> from keras_contrastive.models.dual_encoder import text_vocabulary
    >>> images, captions = data.fashion_scene_captions("train", 32, size=32, seed=0)
    >>> model = models.DualEncoder(backbones.small_cnn((32, 32, 3)), text_vocabulary(captions),
    ...                            projection_dim=16, text_dim=16, text_depth=1, text_num_heads=2)
    >>> model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    >>> pairs = tf.data.Dataset.from_tensor_slices({"images": images, "texts": captions})
    >>> history = model.fit(pairs.batch(16), epochs=1, verbose=0)
    >>> model.embed_texts(["a photo of a bag"]).shape, model.embed_images(images[:2]).shape
    ((1, 16), (2, 16))
    """

    checks_view_size = False
    config_fields = ("vocabulary", "projection_dim", "sequence_length", "text_dim", "text_depth",
                     "text_num_heads", "temperature")

    def __init__(self, encoder, vocabulary, projection_dim=64, sequence_length=16, text_dim=64,
                 text_depth=2, text_num_heads=4, temperature=0.07, **kwargs):
        super().__init__(encoder, **kwargs)
        vocabulary = [str(token) for token in vocabulary]
        if not vocabulary or "" in vocabulary or "[UNK]" in vocabulary:
            raise ValueError("`vocabulary` must be a non-empty list of tokens without the "
                             "padding ('') and OOV ('[UNK]') tokens (text_vocabulary(texts)).")
        for name, value in (("sequence_length", sequence_length), ("text_dim", text_dim),
                            ("text_depth", text_depth), ("text_num_heads", text_num_heads)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {name}={value!r}.")
        if text_dim % text_num_heads:
            raise ValueError(f"`text_dim`={text_dim} must be a multiple of "
                             f"`text_num_heads`={text_num_heads}.")
        self.keep_config(locals())
        self.vocabulary = vocabulary
        self.sequence_length, self.text_dim = int(sequence_length), int(text_dim)
        self.text_depth, self.text_num_heads = int(text_depth), int(text_num_heads)
        self.image_projection = layers.Dense(projection_dim, use_bias=False,
                                             name="image_projection")
        self.image_projection.build((None, self.feature_dim))
        self.text_encoder = text_tower(vocabulary, self.sequence_length, self.text_dim,
                                       self.text_depth, self.text_num_heads)
        for layer in self.text_encoder._flatten_layers():
            if isinstance(layer, layers.StringLookup):  # its table is built with the
                layer.built = True                      # vocabulary; Keras never marks it
        self.text_projection = layers.Dense(projection_dim, use_bias=False,
                                            name="text_projection")
        self.text_projection.build((None, self.text_dim))
        self.log_logit_scale = self.add_weight(
            shape=(), name="log_logit_scale",
            initializer=keras.initializers.Constant(math.log(1.0 / self.temperature)))
        self.built = True

    # -- the towers -------------------------------------------------------------------
    def project_images(self, images, training=False):
        """Image projections ``[B, projection_dim]`` (not normalised) of images in
        [0, 1] or uint8."""
        features = self.encoder(to_unit_float(images), training=training)
        return self.image_projection(features, training=training)

    def project_texts(self, texts, training=False):
        """Text projections ``[B, projection_dim]`` (not normalised) of strings ``[B]``."""
        features = self.text_encoder(tf.reshape(tf.convert_to_tensor(texts), [-1]),
                                     training=training)
        return self.text_projection(features, training=training)

    def embed_images(self, images, batch_size=256):
        """l2-normalised image projections as a NumPy array ``[N, projection_dim]``."""
        images = np.asarray(images)
        return np.concatenate([tf.math.l2_normalize(self.project_images(
            images[i:i + batch_size]), axis=1).numpy() for i in range(0, len(images), batch_size)])

    def embed_texts(self, texts, batch_size=256):
        """l2-normalised text projections as a NumPy array ``[N, projection_dim]``."""
        texts = np.asarray(texts, dtype=object).astype(str)
        return np.concatenate([tf.math.l2_normalize(self.project_texts(
            tf.constant(texts[i:i + batch_size])), axis=1).numpy()
            for i in range(0, len(texts), batch_size)])

    # -- training -----------------------------------------------------------------------
    def compute_objective(self, views, training):
        image_z = self.project_images(views[IMAGES_KEY], training=training)
        text_z = self.project_texts(views[TEXTS_KEY], training=training)
        loss = clip_loss(image_z, text_z, self.log_logit_scale)
        return loss, {"embeddings": image_z}

    def update_state(self, extras):
        self.log_logit_scale.assign(tf.minimum(self.log_logit_scale, math.log(MAX_LOGIT_SCALE)))

    def _unpack(self, data):
        data = distribute.check_even_split(data)
        if isinstance(data, dict) and IMAGES_KEY in data and TEXTS_KEY in data:
            return data
        raise ValueError(_pairs_expected(data))

    def check_views(self, dataset, steps_per_epoch=None):
        """Refuses data that is not batches of pairs ``{"images", "texts"}`` (strings)."""
        spec = dataset.element_spec if isinstance(dataset, tf.data.Dataset) else dataset
        if not (isinstance(spec, dict) and IMAGES_KEY in spec and TEXTS_KEY in spec):
            raise ValueError(_pairs_expected(spec))
        texts = spec[TEXTS_KEY]
        dtype = getattr(texts, "dtype", None)
        if dtype is not None and dtype != tf.string and getattr(dtype, "kind", "O") not in "OUS":
            raise ValueError(f"DualEncoder reads captions as strings: data['texts'] has dtype "
                             f"{dtype}.")


def _pairs_expected(data):
    shown = sorted(data) if isinstance(data, dict) else type(data).__name__
    return (f"DualEncoder trains on image-text pairs: batches of {{'images': [B, H, W, C], "
            f"'texts': [B] strings}}, got {shown}. Build them with tf.data.Dataset."
            "from_tensor_slices({'images': images, 'texts': captions}).batch(...).")
