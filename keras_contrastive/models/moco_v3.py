"""MoCo v3 (Chen, Xie & He 2021): MoCo without a queue, the keys of the global batch as negatives."""
import keras
import tensorflow as tf

from keras_contrastive.heads import prediction_head, projection_head
from keras_contrastive.losses.info_nce import batch_info_nce
from keras_contrastive.models.base import MomentumTargetModel
from keras_contrastive.models.registry import (
    BYOL_VIEWS, HIGH_LR_SGD, MethodSpec, Paper, SAME_VIEWS_NOTE, linear_scaling, register_method)


@keras.saving.register_keras_serializable(package="keras_contrastive")
class MoCoV3(MomentumTargetModel):
    """MoCo v3: online encoder + projector + predictor against a momentum encoder's keys.

    For views ``x_1, x_2``: ``q = predictor(projector(encoder(x)))`` online
    and ``k = target(x)`` from the momentum copy of encoder + projector
    (no gradient).  The loss is the paper's symmetric

        2T * (ctr(q_1, k_2) + ctr(q_2, k_1))

    where ``ctr(q, k)`` is InfoNCE of each query against the keys of the
    **global** batch, its own key the positive
    (:func:`~keras_contrastive.losses.batch_info_nce`).  Projector: BN in
    every layer, the output BN without affine parameters; predictor: the
    same MLP without the output BN (the ResNet setting).  The momentum rises
    from ``momentum`` to 1 on a cosine schedule over the run.

    Args:
        encoder: images in [0, 1] -> features ``[B, D]`` (functional/Sequential).
        projection_dim, hidden_dim: output and hidden sizes of the projector
            and predictor MLPs (256 and 4096 in the paper).
        projector_layers: Dense layers of the projector (2 for ResNet, 3 for ViT).
        momentum: base momentum (0.99).
        temperature: 1.0 for ResNet (0.2 for ViT).
        total_steps: length of the momentum schedule (default: the ``fit`` run).
        synchronized_bn: BN statistics of the heads over the global batch
            (the paper's setting).

    Example:

    >>> import keras
    >>> from keras_contrastive import backbones, models
    >>> model = models.MoCoV3(backbones.resnet18((28, 28, 1), width=8), hidden_dim=512)
    >>> model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    >>> # model.fit(views)
    """

    config_fields = (
        "projection_dim", "hidden_dim", "projector_layers", "momentum", "temperature",
        "total_steps", "synchronized_bn",
    )

    def __init__(self, encoder, projection_dim=256, hidden_dim=4096, projector_layers=2,
                 momentum=0.99, temperature=1.0, total_steps=None, synchronized_bn=False,
                 **kwargs):
        super().__init__(encoder, **kwargs)
        self.keep_config(locals())  # checks the temperature, momentum and sizes
        self._build_online_target(
            projection_head([hidden_dim] * (projector_layers - 1), projection_dim,
                            last_batch_norm=True, synchronized_bn=synchronized_bn,
                            input_dim=self.feature_dim),
            momentum, total_steps)
        self.predictor = prediction_head(hidden_dim, projection_dim, synchronized_bn)
        self.built = True

    def compute_objective(self, views, training):
        view_a, view_b = views["global"][:2]
        both = tf.concat([view_a, view_b], axis=0)
        z = self.online(both, training=training)
        q_a, q_b = tf.split(self.predictor(z, training=training), 2, axis=0)
        k_a, k_b = tf.split(tf.stop_gradient(self.target(both, training=training)), 2, axis=0)
        loss = 2.0 * self.temperature * (batch_info_nce(q_a, k_b, self.temperature)
                                         + batch_info_nce(q_b, k_a, self.temperature))
        return loss, {"embeddings": z}


register_method(MethodSpec(
    "moco_v3", MoCoV3,
    Paper("MoCo v3", "Chen, Xie, He: An Empirical Study of Training Self-Supervised Vision "
          "Transformers (ICCV 2021)",
          dict(batch_size=4096, epochs=300, optimizer="lars",
               learning_rate=linear_scaling(0.3, 4096), weight_decay=1.5e-6, warmup_epochs=10,
               temperature=1.0, projection_dim=256,
               model_options={"hidden_dim": 4096, "momentum": 0.99}, **BYOL_VIEWS),
          "72.8 % linear top-1 (ResNet-50, 300 epochs)",
          (SAME_VIEWS_NOTE,)),
    # at the protocol's temperature (its ResNet default 1.0 is tuned for
    # ImageNet at batch 4096; CIFAR recipes use 0.2)
    protocol=lambda config: dict(projection_dim=config.projection_dim, hidden_dim=512),
    # kNN 0.7935 under the shared SGD, 0.8179 under the high-rate SGD
    optimizer=HIGH_LR_SGD))
