"""DINO (Caron et al. 2021): self-distillation with no labels, multi-crop aware."""
import keras
import tensorflow as tf

from keras_contrastive import distribute
from keras_contrastive.backbones.vit import vit_stages
from keras_contrastive.heads import dino_head
from keras_contrastive.losses.dino import dino
from keras_contrastive.losses.ibot import ibot_patch_loss
from keras_contrastive.losses.koleo import koleo
from keras_contrastive.models.base import MomentumTargetModel
from keras_contrastive.models.registry import (
    BYOL_VIEWS, HIGH_LR_SGD, MethodSpec, Paper, linear_scaling, register_method)
from keras_contrastive.state import MomentumEncoder


@keras.saving.register_keras_serializable(package="keras_contrastive")
class DINO(MomentumTargetModel):
    """DINO: a student matches a momentum teacher's centred, sharpened outputs.

    The student (encoder + :func:`~keras_contrastive.heads.dino_head`) sees
    every view (``views["global"]`` then ``views["local"]``), the teacher (its
    momentum copy, momentum ``momentum`` -> 1 on a cosine schedule) only the
    global views; the loss is :func:`keras_contrastive.losses.dino`.  The
    teacher temperature rises linearly from ``warmup_teacher_temperature`` to
    ``teacher_temperature`` over ``warmup_teacher_temperature_epochs`` epochs
    (per epoch, as the official schedule).  After each step the center
    becomes ``c <- center_momentum * c + (1 - center_momentum) * mean(t)``
    over the global batch of teacher outputs; it is part of the model's state
    (saved, restored, synchronised across replicas).  The last layer of the
    head is frozen during the first ``freeze_last_layer_epochs`` epochs.

    With ``koleo_weight > 0`` (DINOv2's ingredient; 0.1 there) the loss adds
    ``koleo_weight`` times the sum over the two global views of
    :func:`keras_contrastive.losses.koleo` of the student's encoder features
    (a ViT's CLS token, before the head) over the global batch, which
    spreads them over the sphere.  The default 0 is DINO unchanged.

    With ``ibot_weight > 0`` (iBOT, Zhou et al. 2022; a ViT encoder only) the
    views carry patch masks for the global views (``views["masks"]``, e.g.
    from :class:`keras_contrastive.views.PatchMasking`): the student sees
    each global view with its masked patches replaced by a learned mask
    token, the teacher the whole view, and the loss adds ``ibot_weight``
    times :func:`keras_contrastive.losses.ibot_patch_loss` between a patch
    head's outputs (its own momentum copy for the teacher, its own center
    ``patch_center``, updated as ``center``) on the masked patches.

    Works with ResNets and with :func:`keras_contrastive.backbones.vit_tiny`.

    Args:
        encoder: images in [0, 1] -> features ``[B, D]`` (functional/Sequential).
        out_dim: the head's output size ``K`` (65536 in the paper; far fewer
            on small data).
        hidden_dim, bottleneck_dim: head sizes (2048, 256).
        student_temperature: 0.1.
        teacher_temperature, warmup_teacher_temperature,
        warmup_teacher_temperature_epochs: 0.07 after a warm-up from 0.04
            over 30 epochs (the paper's ViT-S setting; 0.04 throughout is its
            default).
        center_momentum: 0.9.
        momentum: base teacher momentum (0.996).
        freeze_last_layer_epochs: 1.
        use_bn_in_head: batch norm in the head's MLP (official flag; off for
            ViTs, needed by small CNNs here).
        synchronized_bn: that batch norm's statistics over the global batch
            under a ``tf.distribute`` strategy.
        total_steps: length of the momentum schedule (default: the ``fit`` run).
        koleo_weight: weight of the KoLeo term (0: off; 0.1 in DINOv2).
        ibot_weight: weight of iBOT's masked patch term (0: off; 1 in iBOT).

    Example:

    >>> import keras
    >>> from keras_contrastive import backbones, models
    >>> encoder = backbones.vit((28, 28, 1), patch_size=7, dim=32, depth=2, num_heads=2)
    >>> model = models.DINO(encoder, out_dim=256, hidden_dim=64, bottleneck_dim=32)
    >>> model.compile(optimizer=keras.optimizers.AdamW(5e-4, weight_decay=0.04))
    >>> # model.fit(views)  # e.g. views.multi_crop views: "global" and "local"
    """

    reads_local_views = True
    config_fields = (
        "out_dim", "hidden_dim", "bottleneck_dim", "student_temperature", "teacher_temperature",
        "warmup_teacher_temperature", "warmup_teacher_temperature_epochs", "center_momentum",
        "momentum", "freeze_last_layer_epochs", "use_bn_in_head", "total_steps",
        "synchronized_bn", "koleo_weight", "ibot_weight",
    )

    def __init__(self, encoder, out_dim=65536, hidden_dim=2048, bottleneck_dim=256,
                 student_temperature=0.1, teacher_temperature=0.07,
                 warmup_teacher_temperature=0.04, warmup_teacher_temperature_epochs=30,
                 center_momentum=0.9, momentum=0.996, freeze_last_layer_epochs=1,
                 use_bn_in_head=False, total_steps=None, synchronized_bn=False, koleo_weight=0.0,
                 ibot_weight=0.0, **kwargs):
        super().__init__(encoder, **kwargs)
        self.keep_config(locals())  # checks the temperatures, momenta, sizes and epochs
        self._build_online_target(
            dino_head(self.feature_dim, out_dim, hidden_dim, bottleneck_dim,
                      use_bn=use_bn_in_head, synchronized_bn=synchronized_bn), momentum,
            total_steps)
        self.center = self.add_weight(shape=(out_dim,), initializer="zeros", trainable=False,
                                      name="center")
        self.steps_per_epoch = self.add_weight(shape=(), dtype="int64", initializer="zeros",
                                               trainable=False, name="steps_per_epoch")
        self.reads_masks = bool(self.ibot_weight)  # views["masks"]: the student's masks
        if self.ibot_weight:
            self._build_ibot(out_dim, hidden_dim, bottleneck_dim, momentum, total_steps)
        self.built = True

    def _build_ibot(self, out_dim, hidden_dim, bottleneck_dim, momentum, total_steps):
        try:
            self.stages = vit_stages(self.encoder)
        except ValueError as error:
            raise ValueError(f"`ibot_weight` masks a ViT's patch tokens: {error}") from None
        self.teacher_stages = vit_stages(self.target.target.layers[0])
        dim = self.feature_dim
        self.mask_token = self.add_weight(
            shape=(dim,), initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="mask_token")
        self.patch_head = dino_head(dim, out_dim, hidden_dim, bottleneck_dim,
                                    name="patch_head")
        self.patch_target = MomentumEncoder(self.patch_head, momentum, schedule="cosine",
                                            total_steps=total_steps, name="patch_target")
        self.patch_center = self.add_weight(shape=(out_dim,), initializer="zeros",
                                            trainable=False, name="patch_center")

    def plan_training(self, total_steps, steps_per_epoch):
        super().plan_training(total_steps, steps_per_epoch)
        if steps_per_epoch:
            self.steps_per_epoch.assign(steps_per_epoch)
        if self.ibot_weight and total_steps:
            self.patch_target.total_steps_variable.assign(total_steps)

    def epoch(self):
        """The current epoch (0 while the run's length is unknown), from the step count."""
        steps = tf.maximum(self.steps_per_epoch, 1)
        known = tf.cast(self.steps_per_epoch > 0, tf.int64)
        return known * (tf.cast(self.optimizer.iterations, tf.int64) // steps)

    def teacher_temperature_at(self, epoch):
        """The official schedule: ``linspace(warmup, final, W)[epoch]``, then ``final``."""
        start, end = self.warmup_teacher_temperature, self.teacher_temperature
        warmup = self.warmup_teacher_temperature_epochs
        epoch = tf.cast(epoch, tf.float32)
        if warmup <= 1:
            return tf.where(epoch < warmup, start, end)
        ramp = start + (end - start) * epoch / float(warmup - 1)
        return tf.where(epoch < warmup, ramp, end)

    def filter_gradients(self, gradients, variables):
        frozen = self.epoch() < self.freeze_last_layer_epochs
        last = [self.projector.get_layer("last_layer").kernel]
        if self.ibot_weight:  # iBOT freezes both heads' last layers
            last.append(self.patch_head.get_layer("last_layer").kernel)
        return [tf.where(frozen, tf.zeros_like(g), g)
                if any(v is k for k in last) and g is not None else g
                for g, v in zip(gradients, variables)]

    def _patch_outputs(self, head, tokens):
        """``head`` on every patch token ``[B, N, D]`` -> ``[B, N, K]``."""
        shape = tf.shape(tokens)
        flat = head(tf.reshape(tokens, [-1, tokens.shape[-1]]))
        return tf.reshape(flat, tf.concat([shape[:2], [-1]], 0))

    def _ibot_forward(self, images, masks, training):
        """Student (masked) and teacher (whole) CLS features and patch outputs."""
        embedded = self.stages.patch_embed(images, training=training)  # [B, h, w, D]
        hidden = tf.reshape(tf.cast(masks, tf.bool), tf.concat([tf.shape(embedded)[:3], [1]], 0))
        embedded = tf.where(hidden, tf.cast(self.mask_token, embedded.dtype), embedded)
        tokens = self.stages.transformer(self.stages.position_embed(embedded), training=training)
        prefix = self.stages.num_prefix_tokens
        student_patches = self._patch_outputs(self.patch_head, tokens[:, prefix:])
        whole = self.teacher_stages.transformer(self.teacher_stages.embed(images),
                                                training=training)
        teacher = tf.stop_gradient(self.target.target.layers[1](whole[:, 0], training=training))
        teacher_patches = tf.stop_gradient(
            self._patch_outputs(self.patch_target.target, whole[:, prefix:]))
        return tokens[:, 0], student_patches, teacher, teacher_patches

    def compute_objective(self, views, training):
        global_views = list(views["global"][:2])
        local_views = list(views.get("local", ()))
        extras = {}
        if self.ibot_weight:
            if "masks" not in views:
                raise ValueError("`ibot_weight` needs patch masks of the global views, "
                                 "views['masks'] (views.PatchMasking makes them).")
            masks = list(views["masks"][:2])
            features, student_patches, teacher, teacher_patches = self._ibot_forward(
                tf.concat(global_views, 0), tf.concat(masks, 0), training)
            teacher = tf.split(teacher, len(global_views), axis=0)
            extras["teacher_patches"] = teacher_patches
        else:
            teacher = tf.split(self.target(tf.concat(global_views, 0), training=training),
                               len(global_views), axis=0)
            features = self.encoder(tf.concat(global_views, 0), training=training)
        student = tf.split(self.projector(features, training=training), len(global_views),
                           axis=0)
        if local_views:
            student += tf.split(self.online(tf.concat(local_views, 0), training=training),
                                len(local_views), axis=0)
        loss = dino(student, teacher, self.center, self.student_temperature,
                    self.teacher_temperature_at(self.epoch()))
        if self.koleo_weight:  # DINOv2: the sum over the global crops, each its own batch
            loss += self.koleo_weight * tf.add_n(
                [koleo(f) for f in tf.split(features, len(global_views), axis=0)])
        if self.ibot_weight:
            split = len(global_views)
            loss += self.ibot_weight * ibot_patch_loss(
                tf.split(student_patches, split, axis=0), tf.split(teacher_patches, split, axis=0),
                masks, self.patch_center, self.student_temperature,
                self.teacher_temperature_at(self.epoch()))
        return loss, {"embeddings": tf.concat(student[:len(global_views)], 0),
                      "teacher": tf.concat(teacher, 0), **extras}

    def update_state(self, extras):
        super().update_state(extras)
        teacher = tf.cast(tf.stop_gradient(extras["teacher"]), tf.float32)
        batch_center = distribute.global_mean(teacher)
        m = self.center_momentum
        self.center.assign(m * self.center + (1.0 - m) * tf.cast(batch_center, self.center.dtype))
        if self.ibot_weight:
            self.patch_target.update(self.patch_head, self.optimizer.iterations)
            patches = tf.cast(tf.stop_gradient(extras["teacher_patches"]), tf.float32)
            batch_center = distribute.global_mean(tf.reduce_mean(patches, axis=1))
            self.patch_center.assign(m * self.patch_center + (1.0 - m) * tf.cast(
                batch_center, self.patch_center.dtype))


register_method(MethodSpec(
    "dino", DINO,
    Paper("DINO", "Caron et al.: Emerging Properties in Self-Supervised Vision Transformers "
          "(ICCV 2021)",
          dict(batch_size=1024, epochs=800, learning_rate=linear_scaling(0.03, 1024),
               weight_decay=1e-4, warmup_epochs=10, crop_scale=(0.14, 1.0), local_crops=6,
               local_size=96,
               model_options={"out_dim": 65536, "hidden_dim": 2048, "bottleneck_dim": 256,
                              "use_bn_in_head": True, "teacher_temperature": 0.07,
                              "warmup_teacher_temperature": 0.04,
                              "warmup_teacher_temperature_epochs": 30,
                              "momentum": 0.996, "freeze_last_layer_epochs": 1},
               jitter_strength=BYOL_VIEWS["jitter_strength"]),
          "75.3 % linear top-1, 67.5 % kNN (ResNet-50; 77.0 % / 74.5 % with ViT-S/16)",
          ("the ResNet-50 setup of the official code (SGD, BN in the head, crops 0.14-1 and "
           "0.05-0.14); the paper's table does not state its epochs (800 here)",
           "the paper's headline, ViT-S/16 (77.0 % / 74.5 %, AdamW), is not this preset: "
           "backbone='vit_small' with optimizer='adamw' builds it")),
    # on the ResNet: BN in the head (official --use_bn_in_head), a 1024-way
    # output, the paper's default teacher temperature 0.04 without warm-up
    protocol=lambda config: dict(out_dim=1024, hidden_dim=512, bottleneck_dim=128,
                                 use_bn_in_head=True, teacher_temperature=0.04,
                                 warmup_teacher_temperature_epochs=0),
    # kNN 0.7715 under the shared SGD, 0.7996 under the high-rate SGD
    optimizer=HIGH_LR_SGD))
