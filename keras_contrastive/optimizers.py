"""LARS (You et al. 2017), the optimizer of SimCLR, BYOL and MoCo v3's ResNet runs at large batch."""
import keras
from keras import ops

DEFAULT_EXCLUDE = ("bias", "gamma", "beta")


def _excluded(variable, patterns):
    path = getattr(variable, "path", None) or variable.name
    return any(pattern in path for pattern in patterns)


@keras.saving.register_keras_serializable(package="keras_contrastive")
class LARS(keras.optimizers.Optimizer):
    """Layer-wise adaptive rate scaling with momentum (SimCLR's formulation).

    For each variable ``w`` with gradient ``g``:

        g <- g + weight_decay * w                  (unless excluded from weight decay)
        r  = eta * ||w|| / ||g||  if ||w|| > 0 and ||g|| > 0, else 1
                                                   (r = 1 if excluded from adaptation)
        r <- min(r / learning_rate, 1)             (clip=True only: LARC)
        v <- momentum * v + learning_rate * r * g
        w <- w - v                                 (nesterov: w - (momentum * v + lr * r * g))

    Weight decay is coupled (added to the gradient before the trust ratio),
    as in the SimCLR and BYOL implementations (``weight_decay`` here is that
    coefficient, not Keras' decoupled decay).  With ``clip=True`` (LARC, as
    in NVIDIA Apex and solo-learn's small-data runs) the local rate is
    ``min(eta * ||w|| / ||g||, learning_rate)``: ``eta`` then bounds each
    step to a fraction of ``||w||`` and ``learning_rate`` is the ceiling,
    instead of a multiplier of the trust ratio.  Variables whose path
    contains one of the ``exclude_*`` substrings (by default biases and
    batch-norm ``gamma``/``beta``, as the papers do) get neither.

    Args:
        learning_rate: float or schedule (SimCLR: 0.3 x batch / 256).
        momentum: 0.9.
        weight_decay: coupled L2 coefficient (SimCLR 1e-6, BYOL 1.5e-6).
        eta: trust coefficient (0.001; LARC runs use 0.02).
        clip: LARC's clipping of the local rate at ``learning_rate``.
        nesterov: Nesterov momentum.
        exclude_from_weight_decay: substrings of variable paths without
            weight decay.
        exclude_from_layer_adaptation: substrings of variable paths without
            the trust ratio (default: the same as ``exclude_from_weight_decay``).
        **kwargs: other ``keras.optimizers.Optimizer`` arguments (``clipnorm``,
            ``loss_scale_factor``, ...).

    Example:

    >>> import numpy as np, keras
    >>> from keras_contrastive.optimizers import LARS
    >>> w = keras.Variable(np.ones(4, "float32"), name="kernel")
    >>> opt = LARS(learning_rate=1.0, momentum=0.0, weight_decay=0.0, eta=0.1)
    >>> _ = opt.apply_gradients([(np.full(4, 3.0, "float32"), w)])
    >>> [round(float(x), 4) for x in w.numpy()]  # r = 0.1 * 2 / 6: w - r * g = 1 - 0.1
    [0.9, 0.9, 0.9, 0.9]
    """

    def __init__(self, learning_rate=0.3, momentum=0.9, weight_decay=1e-6, eta=0.001,
                 nesterov=False, exclude_from_weight_decay=DEFAULT_EXCLUDE,
                 exclude_from_layer_adaptation=None, clip=False, name="lars", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        for arg, value in (("momentum", momentum), ("weight_decay", weight_decay), ("eta", eta)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"`{arg}` must be a number >= 0, got {arg}={value!r}.")
        if momentum >= 1:
            raise ValueError(f"`momentum` must be < 1, got momentum={momentum!r}.")
        self.momentum = float(momentum)
        self.lars_weight_decay = float(weight_decay)
        self.eta = float(eta)
        self.nesterov = bool(nesterov)
        self.clip = bool(clip)
        self.exclude_from_weight_decay = tuple(exclude_from_weight_decay or ())
        self.exclude_from_layer_adaptation = tuple(
            self.exclude_from_weight_decay if exclude_from_layer_adaptation is None
            else exclude_from_layer_adaptation)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.velocities = self.add_optimizer_variables(variables, "velocity")

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        g = ops.cast(gradient, dtype)
        if self.lars_weight_decay and not _excluded(variable, self.exclude_from_weight_decay):
            g = g + ops.cast(self.lars_weight_decay, dtype) * variable
        if not _excluded(variable, self.exclude_from_layer_adaptation):
            w_norm = ops.sqrt(ops.sum(ops.square(variable)))
            g_norm = ops.sqrt(ops.sum(ops.square(g)))
            ratio = ops.where(
                ops.logical_and(w_norm > 0, g_norm > 0),
                ops.cast(self.eta, dtype) * w_norm / ops.maximum(g_norm, 1e-30),
                ops.ones_like(w_norm))
            if self.clip:
                ratio = ops.minimum(ratio / ops.maximum(lr, 1e-30), ops.ones_like(ratio))
            lr = lr * ratio
        v = self.velocities[self._get_variable_index(variable)]
        momentum = ops.cast(self.momentum, dtype)
        self.assign(v, momentum * v + lr * g)
        update = momentum * v + lr * g if self.nesterov else v
        self.assign_sub(variable, update)

    def get_config(self):
        config = super().get_config()
        config.update({
            "momentum": self.momentum,
            "weight_decay": self.lars_weight_decay,
            "eta": self.eta,
            "nesterov": self.nesterov,
            "clip": self.clip,
            "exclude_from_weight_decay": list(self.exclude_from_weight_decay),
            "exclude_from_layer_adaptation": list(self.exclude_from_layer_adaptation),
        })
        return config


def warmup_cosine(peak_learning_rate, total_steps, warmup_steps=0):
    """Linear warm-up from 0 to ``peak_learning_rate`` over ``warmup_steps``,
    then cosine decay to 0 at ``total_steps``: the schedule of SimCLR, BYOL,
    MoCo v3, SwAV, DINO and the redundancy-reduction methods.

    A ``keras.optimizers.schedules.CosineDecay`` (serializable):
    ``lr(s) = peak * s / W`` for ``s < W``, then
    ``peak * (1 + cos(pi * (s - W) / (T - W))) / 2``.

    Example:

    >>> from keras_contrastive.optimizers import warmup_cosine
    >>> schedule = warmup_cosine(0.4, total_steps=100, warmup_steps=10)
    >>> [round(float(schedule(s)), 4) for s in (0, 5, 10, 55, 100)]
    [0.0, 0.2, 0.4, 0.2, 0.0]
    """
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}), got "
                         f"{warmup_steps}.")
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(peak_learning_rate, total_steps)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=total_steps - warmup_steps, warmup_target=peak_learning_rate,
        warmup_steps=warmup_steps)
