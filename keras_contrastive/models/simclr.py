"""SimCLR (Chen et al. 2020): two views, a projection MLP, NT-Xent over the global batch."""
import keras
import tensorflow as tf

from keras_contrastive.heads import projection_head
from keras_contrastive.losses.nt_xent import nt_xent
from keras_contrastive.models.base import ContrastiveModel, check_anchor
from keras_contrastive.models.registry import (
    MethodSpec, Paper, SIMCLR_VIEWS, linear_scaling, register_method)


@keras.saving.register_keras_serializable(package="keras_contrastive")
class SimCLR(ContrastiveModel):
    """SimCLR: both views through one encoder and projector, NT-Xent between them.

    The two view batches are concatenated and encoded in one call (so batch
    norm sees both views, as in the official implementation), projected by an
    MLP and compared with :func:`keras_contrastive.losses.nt_xent` against the
    negatives of the global batch.

    Args:
        encoder: a ``keras.Model`` from images in [0, 1] to features ``[B, D]``.
        projection_dim: output size of the projection head (128 in the paper).
        hidden_dim: hidden width of the projection head (default: ``D``).
        num_hidden_layers: hidden layers in the head (1 in SimCLR v1, 2 in v2).
        temperature: NT-Xent temperature (0.5 in the paper's CIFAR setting).
        synchronized_bn: batch statistics of the head over the global batch.
        anchor: ``"crop"`` (the paper) or ``"original"``: LeOCLR's strategy,
            where the uncropped image ``u`` (``views["original"]``) is the
            anchor of both crops and the loss is
            ``nt_xent(u, v1) + nt_xent(u, v2)``; the crops are never pulled
            toward each other (:class:`LeOCLREndToEnd`).

    Example:

    >>> import keras
    >>> from keras_contrastive import backbones, models
    >>> model = models.SimCLR(backbones.resnet18((28, 28, 1), width=8))
    >>> model.compile(optimizer=keras.optimizers.SGD(0.06, momentum=0.9))
    >>> # model.fit(views)  # views = keras_contrastive.views.make_views(...)
    """

    config_fields = (
        "projection_dim", "hidden_dim", "num_hidden_layers", "temperature", "synchronized_bn",
        "anchor",
    )

    def __init__(
        self,
        encoder,
        projection_dim=128,
        hidden_dim=None,
        num_hidden_layers=1,
        temperature=0.5,
        synchronized_bn=False,
        anchor="crop",
        **kwargs,
    ):
        super().__init__(encoder, **kwargs)
        anchor = check_anchor(anchor)
        self.keep_config(locals())
        self.projector = projection_head(
            [self.feature_dim if hidden_dim is None else hidden_dim] * num_hidden_layers,
            projection_dim,
            synchronized_bn=synchronized_bn,
            input_dim=self.feature_dim,
        )
        self.built = True

    def compute_objective(self, views, training):
        crops = list(views["global"][:2])
        anchored = self.anchor == "original"
        images = [self.original_view(views)] + crops if anchored else crops
        features = self.encoder(tf.concat(images, axis=0), training=training)
        projections = self.projector(features, training=training)
        if anchored:
            u, v1, v2 = tf.split(projections, 3, axis=0)
            loss = nt_xent(u, v1, self.temperature) + nt_xent(u, v2, self.temperature)
        else:
            loss = nt_xent(*tf.split(projections, 2, axis=0), self.temperature)
        return loss, {"embeddings": projections}


register_method(MethodSpec(
    "simclr", SimCLR,
    Paper("SimCLR", "Chen, Kornblith, Norouzi, Hinton: A Simple Framework for Contrastive "
          "Learning of Visual Representations (ICML 2020)",
          dict(batch_size=4096, epochs=1000, optimizer="lars",
               learning_rate=linear_scaling(0.3, 4096), weight_decay=1e-6, warmup_epochs=10,
               temperature=0.1, projection_dim=128, model_options={"hidden_dim": 2048},
               **SIMCLR_VIEWS),
          "69.3 % linear top-1 (ResNet-50, 1000 epochs, batch 4096)"),
    # heads are sized for the protocol's 128-d (width 16) backbone rather than
    # the papers' 2048/4096-d ImageNet heads
    protocol=lambda config: dict(projection_dim=config.projection_dim)))
