"""DenseCL (Wang et al. 2021): MoCo-v2 plus a contrastive loss between matched map locations."""
import keras
import tensorflow as tf

from keras_contrastive._checks import check_fractions, check_temperature
from keras_contrastive.backbones.spatial import spatial_encoder
from keras_contrastive.heads import projection_head
from keras_contrastive.losses.densecl import dense_contrastive
from keras_contrastive.losses.info_nce import info_nce
from keras_contrastive.models.base import ContrastiveModel
from keras_contrastive.models.moco import moco_v2_protocol
from keras_contrastive.models.registry import MethodSpec, Paper, register_method
from keras_contrastive.state import FeatureQueue, MomentumEncoder


def _dense_network(encoder, projector, dense_projector):
    """images -> (global projection, dense projections ``[B, S, d]``, backbone locations
    ``[B, S, c]``), on the encoder's own layers (its feature map before the pooling)."""
    locations = spatial_encoder(encoder).output
    if len(locations.shape) == 4:  # a feature map: its h * w locations
        locations = keras.layers.Reshape((-1, locations.shape[-1]),
                                         name="locations")(locations)
    return keras.Model(encoder.inputs[0],
                       [projector(encoder.outputs[0]), dense_projector(locations), locations],
                       name="query_network")


@keras.saving.register_keras_serializable(package="keras_contrastive")
class DenseCL(ContrastiveModel):
    """DenseCL: MoCo-v2's global InfoNCE plus a dense one between matched feature-map locations.

    The global branch is MoCo-v2's (query and momentum key encoders, a
    ``hidden_dim`` -> ``projection_dim`` MLP on the pooled features, a queue
    of keys, InfoNCE).  The dense branch projects every location of the
    encoder's feature map (before its pooling; a ViT's patch tokens) with a
    1x1-convolution MLP of the same sizes, and pairs each query location
    with the key location whose **backbone** feature is the most similar
    (cosine): :func:`keras_contrastive.losses.dense_contrastive`, whose
    negatives are a second queue holding each key image's mean dense
    projection (the authors' code).  Loss
    ``(1 - dense_weight) * global + dense_weight * dense``.  After each
    optimizer step the key network moves toward the query network and the
    global batch's keys (gathered over replicas) enter both queues.  View 1
    is the query, view 2 the key; the encoder must end in a pooling layer
    (``backbones.spatial_encoder``).

    Args:
        encoder: images in [0, 1] -> features ``[B, D]``, ending in global pooling.
        queue_size: negatives kept in each queue (65536 in the paper); a
            multiple of the global batch.
        momentum: key-encoder momentum ``m`` (0.999).
        temperature: InfoNCE temperature of both losses (0.2).
        projection_dim, hidden_dim: sizes of both heads (128 and 2048).
        dense_weight: ``lambda`` of the dense loss (0.5; 0: MoCo-v2).

    Example:

    >>> import keras, numpy as np
    >>> from keras_contrastive import backbones, models
    >>> model = models.DenseCL(backbones.small_cnn((28, 28, 1)), queue_size=4096,
    ...                        projection_dim=16, hidden_dim=32)
    >>> model.compile(optimizer=keras.optimizers.SGD(0.03, momentum=0.9))
    >>> # model.fit(views)  # views = keras_contrastive.views.make_views(...)
    >>> # global projection, dense projections and backbone features of the 7 x 7 locations
    >>> [tuple(t.shape) for t in model.query_network(np.zeros((2, 28, 28, 1), "float32"))]
    [(2, 16), (2, 49, 16), (2, 49, 64)]
    """

    config_fields = ("queue_size", "momentum", "temperature", "projection_dim", "hidden_dim",
                     "dense_weight")

    def __init__(self, encoder, queue_size=65536, momentum=0.999, temperature=0.2,
                 projection_dim=128, hidden_dim=2048, dense_weight=0.5, **kwargs):
        super().__init__(encoder, **kwargs)
        check_temperature(temperature)
        check_fractions(momentum=momentum, dense_weight=dense_weight)
        self.keep_config(locals())
        self.projector = projection_head([hidden_dim], projection_dim, batch_norm=False,
                                         input_dim=self.feature_dim)
        self.dense_projector = projection_head([hidden_dim], projection_dim, batch_norm=False,
                                               name="dense_projection_head")
        self.query_network = _dense_network(encoder, self.projector, self.dense_projector)
        self.key_network = MomentumEncoder(self.query_network, momentum, name="key_network")
        self.queue = FeatureQueue(queue_size, projection_dim, name="queue")
        self.dense_queue = FeatureQueue(queue_size, projection_dim, name="dense_queue")
        self.built = True

    def check_global_batch(self, global_batch):
        self.queue.check_batch(global_batch)

    def compute_objective(self, views, training):
        query_view, key_view = views["global"][:2]
        query, query_dense, query_locations = self.query_network(query_view, training=training)
        key, key_dense, key_locations = self.key_network(key_view, training=training)
        global_loss = info_nce(query, key, self.queue.values, self.temperature)
        dense_loss = dense_contrastive(query_dense, key_dense, query_locations, key_locations,
                                       self.dense_queue.values, self.temperature)
        loss = (1.0 - self.dense_weight) * global_loss + self.dense_weight * dense_loss
        return loss, {"embeddings": query, "keys": key,
                      "dense_keys": tf.reduce_mean(tf.cast(key_dense, tf.float32), axis=1)}

    def update_state(self, extras):
        self.key_network.update(self.query_network, self.optimizer.iterations)
        self.queue.enqueue(tf.math.l2_normalize(tf.cast(extras["keys"], tf.float32), axis=1))
        self.dense_queue.enqueue(tf.math.l2_normalize(extras["dense_keys"], axis=1))


register_method(MethodSpec(
    "densecl", DenseCL,
    Paper("DenseCL", "Wang, Zhang, Shen, Kong, Li: Dense Contrastive Learning for "
          "Self-Supervised Visual Pre-Training (CVPR 2021)",
          dict(batch_size=256, epochs=200, learning_rate=0.03, weight_decay=1e-4,
               temperature=0.2, projection_dim=128, key_momentum=0.999,
               model_options={"queue_size": 65536, "hidden_dim": 2048, "dense_weight": 0.5}),
          "+2.0 AP on VOC detection and +3.0 % mIoU on VOC segmentation over MoCo-v2 "
          "(ResNet-50; the abstract)",
          ("the dense loss from the first step (the authors' code: lambda 0 for the first "
           "1000 iterations)",)),
    # MoCo-v2's protocol (queue of 16 batches, the run's key momentum, 512-d hidden layers)
    protocol=lambda config: moco_v2_protocol(config)))
