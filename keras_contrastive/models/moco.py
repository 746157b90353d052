"""MoCo v1/v2 (He et al. 2020; Chen et al. 2020): a momentum key encoder and a queue of negatives."""
import keras
import tensorflow as tf

from keras_contrastive.heads import projection_head
from keras_contrastive.losses.info_nce import info_nce
from keras_contrastive.models.base import ContrastiveModel
from keras_contrastive.state import FeatureQueue, MomentumEncoder
from keras_contrastive.models.registry import COSINE_NOTE, MethodSpec, Paper, register_method

_DEFAULT_TEMPERATURE = {1: 0.07, 2: 0.2}


@keras.saving.register_keras_serializable(package="keras_contrastive")
class MoCo(ContrastiveModel):
    """MoCo: queries from the online network, keys from its momentum copy, negatives from a queue.

    View 1 is the query, view 2 its positive key (``symmetric=True`` adds
    the swapped pair, as in MoCo v2's later recipes).  After each optimizer
    step the key network moves toward the query network
    (``k = m k + (1 - m) q``) and the keys of the global batch are enqueued.
    Batch norm across the global batch (``synchronized_bn=True`` on the
    encoder and here) replaces MoCo's shuffle-BN against the BN leak.
    Multi-crop views (``views["local"]``, e.g. from ``views.MultiCrop``) are
    extra queries whose positive is view 2's key; they never reach the key
    encoder or the queue, and the loss is the mean over all queries (the
    encoder must then accept the local size, e.g. ``(None, None, C)`` inputs).

    Args:
        encoder: images in [0, 1] -> features ``[B, D]`` (functional/Sequential).
        version: 1 (linear 128-d projection, T=0.07) or 2 (MLP ``hidden_dim``
            -> 128 without BN, T=0.2).
        queue_size: negatives kept (65536 in the papers); a multiple of the
            global batch.
        momentum: key-encoder momentum ``m``.
        temperature: InfoNCE temperature (default by version).
        projection_dim, hidden_dim: projection sizes.
        symmetric: also use view 2 as query against view 1's key.
        synchronized_bn: BN statistics of the projector over the global batch.

    Example:

    >>> import keras
    >>> from keras_contrastive import backbones, models
    >>> model = models.MoCo(backbones.resnet18((28, 28, 1), width=8), queue_size=4096)
    >>> model.compile(optimizer=keras.optimizers.SGD(0.06, momentum=0.9))
    >>> # model.fit(views)  # views = keras_contrastive.views.make_views(...)
    """

    reads_local_views = True
    config_fields = (
        "version", "queue_size", "momentum", "temperature", "projection_dim", "hidden_dim",
        "symmetric", "synchronized_bn",
    )

    def __init__(self, encoder, version=2, queue_size=65536, momentum=0.999, temperature=None,
                 projection_dim=128, hidden_dim=2048, symmetric=False, synchronized_bn=False,
                 **kwargs):
        super().__init__(encoder, **kwargs)
        if version not in (1, 2):
            raise ValueError(f"`version` must be 1 or 2, got version={version!r}.")
        temperature = _DEFAULT_TEMPERATURE[version] if temperature is None else temperature
        self.keep_config(locals())
        self.projector = projection_head(
            [] if version == 1 else [hidden_dim], projection_dim, batch_norm=False,
            synchronized_bn=synchronized_bn, input_dim=self.feature_dim,
        )
        self.query_network = keras.Sequential([encoder, self.projector], name="query_network")
        self.key_network = MomentumEncoder(self.query_network, momentum, name="key_network")
        self.queue = FeatureQueue(queue_size, projection_dim, name="queue")
        self.built = True

    def check_global_batch(self, global_batch):
        self.queue.check_batch(global_batch)

    def encode_query(self, images, training):
        """``(projection, backbone features)`` of the online (query) network."""
        features = self.encoder(images, training=training)
        return self.projector(features, training=training), features

    def encode_key(self, images, training):
        """``(projection, backbone features)`` of the momentum (key) network, no gradient."""
        key_encoder, key_projector = self.key_network.target.layers
        features = tf.stop_gradient(key_encoder(images, training=training))
        return tf.stop_gradient(key_projector(features, training=training)), features

    def query_key_pairs(self, views, training):
        """Encoded (query view, key view) pairs: (1, 2), plus (2, 1) when symmetric."""
        view_a, view_b = views["global"][:2]
        pairs = [(view_a, view_b)] + ([(view_b, view_a)] if self.symmetric else [])
        return [(*self.encode_query(q, training), *self.encode_key(k, training))
                for q, k in pairs]

    def local_queries(self, views, training):
        """Queries of the multi-crop local views (``views["local"]``), one per view."""
        local = list(views.get("local", ()))
        if not local:
            return []
        queries, _ = self.encode_query(tf.concat(local, axis=0), training)
        return tf.split(queries, len(local), axis=0)

    def compute_objective(self, views, training):
        pairs = self.query_key_pairs(views, training)
        negatives = self.queue.values
        terms = [info_nce(q, k, negatives, self.temperature) for q, _, k, _ in pairs]
        # multi-crop: each local crop is one more query whose positive is the key of
        # the key crop (global view 2); local crops never reach the key encoder or
        # the queue ("Revisiting...", Sec. 4.1)
        key = pairs[0][2]
        terms += [info_nce(q, key, negatives, self.temperature)
                  for q in self.local_queries(views, training)]
        loss = tf.add_n(terms) / len(terms)
        return loss, {
            "embeddings": tf.concat([q for q, _, _, _ in pairs], 0),
            "keys": [k for _, _, k, _ in pairs],
            "pairs": pairs,
        }

    def update_state(self, extras):
        self.key_network.update(self.query_network, self.optimizer.iterations)
        for keys in extras["keys"]:  # one global batch at a time: replica order kept
            self.queue.enqueue(tf.math.l2_normalize(tf.cast(keys, tf.float32), axis=1))


def moco_v2_protocol(config, **changes):
    """MoCo-v2's quality-protocol arguments (queue of 16 batches, the run's key momentum and
    projection size, 512-d hidden layer), shared by the methods built on it, plus ``changes``."""
    return dict(queue_size=16 * config.batch_size, momentum=config.key_momentum,
                projection_dim=config.projection_dim, hidden_dim=512, **changes)


# MoCo in the quality protocol: the queue holds 16 batches and the key encoder
# uses MoCo's CIFAR momentum 0.99 (``key_momentum``; 0.999 is tuned for
# ImageNet's 5000 steps per epoch)
register_method(MethodSpec(
    "moco_v1", MoCo,
    Paper("MoCo v1", "He, Fan, Wu, Xie, Girshick: Momentum Contrast for Unsupervised Visual "
          "Representation Learning (CVPR 2020)",
          dict(batch_size=256, epochs=200, learning_rate=0.03, weight_decay=1e-4,
               temperature=0.07, projection_dim=128, key_momentum=0.999, blur_prob=0.0,
               model_options={"queue_size": 65536}),
          "60.6 % linear top-1 (ResNet-50, 200 epochs)",
          (COSINE_NOTE,)),
    # MoCo v1: linear 128-d head, at the protocol's temperature
    protocol=lambda config: dict(version=1, queue_size=16 * config.batch_size,
                                 momentum=config.key_momentum,
                                 projection_dim=config.projection_dim)))
register_method(MethodSpec(
    "moco_v2", MoCo,
    Paper("MoCo v2", "Chen, Fan, Girshick, He: Improved Baselines with Momentum Contrastive "
          "Learning (arXiv 2020)",
          dict(batch_size=256, epochs=200, learning_rate=0.03, weight_decay=1e-4,
               temperature=0.2, projection_dim=128, key_momentum=0.999,
               model_options={"queue_size": 65536, "hidden_dim": 2048}),
          "67.5 % linear top-1 (ResNet-50, 200 epochs; 71.1 % at 800)"),
    # MoCo-v2 keeps the shared SGD: the high-rate SGD moved it only from 0.7989 to 0.8014
    protocol=lambda config: moco_v2_protocol(config, version=2)))
