"""NNCLR (Dwibedi et al. 2021): the positive is the nearest neighbour of a view in a support set."""
import keras
import tensorflow as tf

from keras_contrastive.heads import prediction_head, projection_head
from keras_contrastive.losses.nnclr import nnclr_loss
from keras_contrastive.models.base import ContrastiveModel
from keras_contrastive.state import FeatureQueue
from keras_contrastive.models.registry import (
    BYOL_VIEWS, HIGH_LR_SGD, MethodSpec, Paper, SAME_VIEWS_NOTE, linear_scaling, register_method)


@keras.saving.register_keras_serializable(package="keras_contrastive")
class NNCLR(ContrastiveModel):
    """NNCLR: NT-Xent where each view's anchor is its nearest neighbour in a support set.

    For view 1's projection ``z_i`` the anchor is ``NN(z_i)``, its nearest
    neighbour (cosine) in the support queue; the positive is view 2's
    ``z_i^+`` and the other ``z_k^+`` of the global batch are negatives
    (the paper's eq. 2), symmetrised over the two views.  As in the paper's
    implementation (following BYOL), positives and negatives go through a
    prediction MLP ``g`` first (``NN(z_i) . g(z_i^+)``); without it
    (``prediction_hidden_dim=None``) small models collapse dimensionally:
    on Fashion-MNIST the embedding spread halved in 128 steps.  After the
    step, view 1's projections of the global batch are enqueued.

    Args:
        encoder: images in [0, 1] -> features ``[B, D]``.
        support_size: support-set size (98304 in the paper); a multiple of
            the global batch.
        temperature: 0.1 in the paper.
        projection_dim, hidden_dim: projector sizes (256, 2048 in the paper).
        prediction_hidden_dim: hidden size of the predictor (4096 in the
            paper; its output has ``projection_dim``); ``None`` drops it.
        synchronized_bn: BN statistics of the projector over the global batch.

    Example:

    >>> import keras
    >>> from keras_contrastive import backbones, models
    >>> model = models.NNCLR(backbones.resnet18((28, 28, 1), width=8), support_size=4096)
    >>> model.compile(optimizer=keras.optimizers.SGD(0.06, momentum=0.9))
    """

    config_fields = (
        "support_size", "temperature", "projection_dim", "hidden_dim", "prediction_hidden_dim",
        "synchronized_bn",
    )

    def __init__(self, encoder, support_size=98304, temperature=0.1, projection_dim=256,
                 hidden_dim=2048, prediction_hidden_dim=4096, synchronized_bn=False, **kwargs):
        super().__init__(encoder, **kwargs)
        self.keep_config(locals())
        self.projector = projection_head([hidden_dim, hidden_dim], projection_dim,
                                         last_batch_norm=True, synchronized_bn=synchronized_bn,
                                         input_dim=self.feature_dim)
        self.predictor = None if prediction_hidden_dim is None else prediction_head(
            prediction_hidden_dim, projection_dim, synchronized_bn)
        self.support = FeatureQueue(support_size, projection_dim, name="support")
        self.built = True

    def check_global_batch(self, global_batch):
        self.support.check_batch(global_batch)

    def compute_objective(self, views, training):
        view_a, view_b = views["global"][:2]
        z = self.projector(self.encoder(tf.concat([view_a, view_b], 0), training=training),
                           training=training)
        z_a, z_b = tf.split(z, 2, axis=0)
        p_a = p_b = None
        if self.predictor is not None:
            p_a, p_b = tf.split(self.predictor(z, training=training), 2, axis=0)
        loss = nnclr_loss(z_a, z_b, self.support.values, self.temperature, p_a, p_b)
        return loss, {"embeddings": z, "support_keys": z_a}

    def update_state(self, extras):
        self.support.enqueue(tf.math.l2_normalize(tf.cast(extras["support_keys"], tf.float32),
                                                  axis=1))


register_method(MethodSpec(
    "nnclr", NNCLR,
    Paper("NNCLR", "Dwibedi, Aytar, Tompson, Sermanet, Zisserman: With a Little Help from My "
          "Friends (ICCV 2021)",
          dict(batch_size=4096, epochs=1000, optimizer="lars",
               learning_rate=linear_scaling(0.3, 4096), weight_decay=1e-6, warmup_epochs=10,
               temperature=0.1, projection_dim=256,
               model_options={"support_size": 98304, "hidden_dim": 2048,
                              "prediction_hidden_dim": 4096},
               **BYOL_VIEWS),
          "75.4 % linear top-1 (ResNet-50, 1000 epochs)",
          (SAME_VIEWS_NOTE,)),
    protocol=lambda config: dict(support_size=16 * config.batch_size,
                                 projection_dim=config.projection_dim, hidden_dim=512,
                                 prediction_hidden_dim=512),
    # kNN 0.8132 under the shared SGD, 0.8241 under the high-rate SGD
    optimizer=HIGH_LR_SGD))
