"""BYOL (Grill et al. 2020): predict a slowly moving target network's projection of the other view."""
import keras
import tensorflow as tf

from keras_contrastive.heads import prediction_head, projection_head
from keras_contrastive.losses.info_nce import negative_cosine_similarity
from keras_contrastive.models.base import MomentumTargetModel, check_anchor
from keras_contrastive.models.registry import (
    BYOL_VIEWS, HIGH_LR_SGD, MethodSpec, Paper, SAME_VIEWS_NOTE, linear_scaling, register_method)


@keras.saving.register_keras_serializable(package="keras_contrastive")
class BYOL(MomentumTargetModel):
    """BYOL: online encoder + projector + predictor regress the target's projection.

    Loss (the paper's): ``l(p_1, z'_2) + l(p_2, z'_1)`` with
    ``l(p, z) = 2 - 2 cos(p, z)`` = ``2 + 2 * negative_cosine_similarity``;
    the target branch gets no gradient.  The target's momentum rises from
    ``momentum`` to 1 on a cosine schedule over the run, driven by the
    optimizer's iteration count (``fit`` tells the model the run's length;
    pass ``total_steps`` to fix it).

    Args:
        encoder: images in [0, 1] -> features ``[B, D]`` (functional/Sequential).
        projection_dim, hidden_dim: projector and predictor MLP sizes
            (256 and 4096 in the paper).
        momentum: base target momentum (0.996).
        total_steps: length of the momentum schedule (default: the ``fit`` run).
        synchronized_bn: BN statistics of the heads over the global batch.
        anchor: ``"crop"`` (the paper) or ``"original"``: LeOCLR's strategy,
            where only the uncropped image ``u`` (``views["original"]``) goes
            through the online branch and predicts the target's projections
            of both crops: ``l(p_u, z'_1) + l(p_u, z'_2)``.

    Example:

    >>> import keras
    >>> from keras_contrastive import backbones, models
    >>> model = models.BYOL(backbones.resnet18((28, 28, 1), width=8), hidden_dim=512)
    >>> model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    >>> # model.fit(views)
    """

    config_fields = (
        "projection_dim", "hidden_dim", "momentum", "total_steps", "synchronized_bn", "anchor",
    )

    def __init__(self, encoder, projection_dim=256, hidden_dim=4096, momentum=0.996,
                 total_steps=None, synchronized_bn=False, anchor="crop", **kwargs):
        super().__init__(encoder, **kwargs)
        anchor = check_anchor(anchor)
        self.keep_config(locals())
        self._build_online_target(
            projection_head([hidden_dim], projection_dim, synchronized_bn=synchronized_bn,
                            input_dim=self.feature_dim),
            momentum, total_steps)
        self.predictor = prediction_head(hidden_dim, projection_dim, synchronized_bn)
        self.built = True

    def compute_objective(self, views, training):
        view_a, view_b = views["global"][:2]
        both = tf.concat([view_a, view_b], axis=0)
        t_a, t_b = tf.split(self.target(both, training=training), 2, axis=0)
        if self.anchor == "original":
            z = self.online(self.original_view(views), training=training)
            p_a = p_b = self.predictor(z, training=training)
        else:
            z = self.online(both, training=training)
            p_a, p_b = tf.split(self.predictor(z, training=training), 2, axis=0)
        # l(p, z) = 2 - 2 cos(p, z) = 2 + 2 negative_cosine_similarity(p, z)
        loss = 4.0 + 2.0 * (negative_cosine_similarity(p_a, t_b)
                            + negative_cosine_similarity(p_b, t_a))
        return loss, {"embeddings": z}


register_method(MethodSpec(
    "byol", BYOL,
    Paper("BYOL", "Grill et al.: Bootstrap Your Own Latent (NeurIPS 2020)",
          dict(batch_size=4096, epochs=1000, optimizer="lars",
               learning_rate=linear_scaling(0.2, 4096), weight_decay=1.5e-6, warmup_epochs=10,
               projection_dim=256, model_options={"hidden_dim": 4096, "momentum": 0.996},
               **BYOL_VIEWS),
          "74.3 % linear top-1 (ResNet-50, 1000 epochs)",
          (SAME_VIEWS_NOTE,)),
    # solo-learn's CIFAR target momentum 0.99 -> 1 (0.996 is the paper's
    # ImageNet base, 5000 steps an epoch)
    protocol=lambda config: dict(projection_dim=config.projection_dim, hidden_dim=512,
                                 momentum=0.99),
    # under the shared SGD it ended below random init after 5 epochs (kNN
    # 0.7376 against 0.7656); 0.7796 with the high-rate SGD
    optimizer=HIGH_LR_SGD))
