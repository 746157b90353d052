"""Barlow Twins and VICReg: no negatives, no momentum encoder; the loss acts on
the statistics of the global batch of projections (redundancy reduction)."""
import keras

from keras_contrastive.heads import projection_head
from keras_contrastive.losses.redundancy import barlow_twins, vicreg
from keras_contrastive.models.base import ContrastiveModel, centred, check_arguments
from keras_contrastive.models.registry import (
    BYOL_VIEWS, LARC_WARMUP, MethodSpec, Paper, SAME_VIEWS_NOTE, linear_scaling, register_method)


class _TwoViewStatistics(ContrastiveModel):
    """Both views through the encoder and an MLP projector (the papers' "expander"),
    each view in its own call as in the official implementations (so batch norm
    statistics are per view); the subclass's ``objective(z_a, z_b)`` compares them."""

    config_fields = ("projection_dim", "hidden_dim", "num_hidden_layers", "synchronized_bn")

    def __init__(self, encoder, projection_dim, hidden_dim, num_hidden_layers, synchronized_bn,
                 **kwargs):
        super().__init__(encoder, **kwargs)
        self.keep_config(locals())
        self.projector = projection_head(
            [hidden_dim] * num_hidden_layers, projection_dim,
            synchronized_bn=synchronized_bn, input_dim=self.feature_dim)
        self.built = True

    def objective(self, z_a, z_b):
        raise NotImplementedError

    def compute_objective(self, views, training):
        h_a, h_b = (self.encoder(view, training=training) for view in views["global"][:2])
        z_a, z_b = (self.projector(h, training=training) for h in (h_a, h_b))
        # embedding_std reads the encoder's features, centred over the global batch:
        # both losses ignore the projections' mean, and a collapsed encoder's
        # projections are not constant but float noise that the projector's batch
        # norm blows up (1/sqrt(eps) times the rounding error of the batch mean),
        # which reads as spread once each row is normalised
        return self.objective(z_a, z_b), {"embeddings": centred(h_a)}


@keras.saving.register_keras_serializable(package="keras_contrastive")
class BarlowTwins(_TwoViewStatistics):
    """Barlow Twins (Zbontar et al. 2021): the cross-correlation of the two views'
    projections, standardised over the global batch, is pulled toward the identity.

    Loss: :func:`keras_contrastive.losses.barlow_twins`.  The paper's projector
    is 3 layers of 8192 units (Dense-BN-ReLU twice, then Dense); on small data
    a narrower one (e.g. 3 x 512) learns as well and costs far less.
    Statistics are those of the global batch (set ``synchronized_bn=True`` for
    the projector's batch norm too when training on several replicas).
    ``embedding_std`` is measured on the encoder's features centred over
    the global batch (the loss ignores the projections' mean).

    Args:
        encoder: a ``keras.Model`` from images in [0, 1] to features ``[B, D]``.
        projection_dim: size of the projector's output (8192).
        hidden_dim: width of its hidden layers (8192).
        num_hidden_layers: hidden Dense-BN-ReLU layers (2).
        lambda_: weight of the off-diagonal term (5e-3).
        synchronized_bn: projector batch norm over the global batch.

    Example:

    >>> import keras
    >>> from keras_contrastive import backbones, models
    >>> model = models.BarlowTwins(backbones.resnet18((28, 28, 1), width=8),
    ...                            projection_dim=512, hidden_dim=512)
    >>> model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    >>> # model.fit(views)  # views = keras_contrastive.views.make_views(...)
    """

    config_fields = _TwoViewStatistics.config_fields + ("lambda_",)

    def __init__(self, encoder, projection_dim=8192, hidden_dim=8192, num_hidden_layers=2,
                 lambda_=5e-3, synchronized_bn=False, **kwargs):
        check_arguments({"lambda_": lambda_})  # before the projector is built
        super().__init__(encoder, projection_dim, hidden_dim, num_hidden_layers,
                         synchronized_bn, **kwargs)
        self.keep_config(locals())

    def objective(self, z_a, z_b):
        return barlow_twins(z_a, z_b, self.lambda_)


@keras.saving.register_keras_serializable(package="keras_contrastive")
class VICReg(_TwoViewStatistics):
    """VICReg (Bardes et al. 2022): invariance between the views, a hinge on each
    dimension's std and a penalty on covariances, over the global batch.

    Loss: :func:`keras_contrastive.losses.vicreg` with weights
    ``sim_weight * invariance + var_weight * variance + cov_weight * covariance``
    (25, 25, 1 in the paper).  The paper's expander is 3 layers of 8192 units.
    ``embedding_std`` is measured on the encoder's features centred over
    the global batch (the loss ignores the projections' mean).

    Args:
        encoder: a ``keras.Model`` from images in [0, 1] to features ``[B, D]``.
        projection_dim, hidden_dim, num_hidden_layers: the expander (8192, 8192, 2).
        sim_weight, var_weight, cov_weight: the loss weights.
        epsilon: added to the variance before its square root (1e-4).
        synchronized_bn: expander batch norm over the global batch.

    Example:

    >>> import keras
    >>> from keras_contrastive import backbones, models
    >>> model = models.VICReg(backbones.resnet18((28, 28, 1), width=8),
    ...                       projection_dim=512, hidden_dim=512)
    >>> model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    >>> # model.fit(views)  # views = keras_contrastive.views.make_views(...)
    """

    config_fields = _TwoViewStatistics.config_fields + (
        "sim_weight", "var_weight", "cov_weight", "epsilon")

    def __init__(self, encoder, projection_dim=8192, hidden_dim=8192, num_hidden_layers=2,
                 sim_weight=25.0, var_weight=25.0, cov_weight=1.0, epsilon=1e-4,
                 synchronized_bn=False, **kwargs):
        check_arguments({"sim_weight": sim_weight, "var_weight": var_weight,
                         "cov_weight": cov_weight, "epsilon": epsilon})
        super().__init__(encoder, projection_dim, hidden_dim, num_hidden_layers,
                         synchronized_bn, **kwargs)
        self.keep_config(locals())

    def objective(self, z_a, z_b):
        return vicreg(z_a, z_b, self.sim_weight, self.var_weight, self.cov_weight, self.epsilon)


# redundancy reduction in the protocol: 3-layer 512-d projectors in place of
# the papers' 8192-d ones (a 128-d encoder on 60k images)
register_method(MethodSpec(
    "barlow_twins", BarlowTwins,
    Paper("Barlow Twins", "Zbontar, Jing, Misra, LeCun, Deny: Barlow Twins (ICML 2021)",
          dict(batch_size=2048, epochs=1000, optimizer="lars",
               learning_rate=linear_scaling(0.2, 2048), weight_decay=1.5e-6, warmup_epochs=10,
               model_options={"projection_dim": 8192, "hidden_dim": 8192, "lambda_": 5e-3},
               **BYOL_VIEWS),
          "73.2 % linear top-1 (ResNet-50, 1000 epochs)",
          (SAME_VIEWS_NOTE, "one learning rate for weights and biases (the paper: 0.2 and "
                            "0.0048 x batch / 256)")),
    protocol=lambda config: dict(projection_dim=512, hidden_dim=512),
    # kNN 0.7818 under the shared SGD, 0.8051 under LARC (solo-learn's CIFAR setting)
    optimizer=LARC_WARMUP))
register_method(MethodSpec(
    "vicreg", VICReg,
    Paper("VICReg", "Bardes, Ponce, LeCun: VICReg (ICLR 2022)",
          dict(batch_size=2048, epochs=1000, optimizer="lars",
               learning_rate=linear_scaling(0.2, 2048), weight_decay=1e-6, warmup_epochs=10,
               model_options={"projection_dim": 8192, "hidden_dim": 8192},
               **BYOL_VIEWS),
          "73.2 % linear top-1 (ResNet-50, 1000 epochs)",
          (SAME_VIEWS_NOTE,)),
    protocol=lambda config: dict(projection_dim=512, hidden_dim=512),
    # the shared SGD took its loss to Inf at step 7; the paper's LARS (lr 0.2,
    # trust ratio 0.001, wd 1e-6) fell slowly (kNN 0.7831); LARC reached 0.8217
    optimizer=LARC_WARMUP))
