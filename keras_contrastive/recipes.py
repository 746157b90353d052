"""The engine of ``recipes/<method>.py``: one script per method, two presets.

Every recipe is the same few lines: the method's name and a docstring table
of its settings.  This module holds what they share:

* ``PAPERS[method]``: the paper's ImageNet-scale setup (``--preset paper``),
  as a ``PretrainConfig`` (backbone, input size, batch, optimizer and
  schedule, views, the model's own arguments) with the paper's reported
  figure and the places where the library departs from it;
* ``--preset cpu_small``: the library's Fashion-MNIST quality protocol
  (``PRESETS["quality"]``, BENCHMARKS.md), the one every method's figures in
  the README come from;
* the flags (``--dataset``, ``--strategy``, ``--export``, ...), the run
  (``pretraining.pretrain``: views -> ``model.fit`` -> kNN and linear probe)
  and the export of the encoder for TF Serving.

Recipe files are generated from this module (``python -m
keras_contrastive.recipes write recipes/``) and a test checks they match, so
the tables in their docstrings are the settings the code runs.

Example:

>>> from keras_contrastive import recipes
>>> config = recipes.preset_config("byol", "paper")
>>> config.backbone, config.batch_size, config.optimizer_name, config.epochs
('resnet50', 4096, 'lars', 1000)
>>> recipes.preset_config("byol", "cpu_small").dataset
'fashion_mnist'
"""
import dataclasses
import os
import sys

from keras_contrastive.pretraining import PRESETS, PretrainConfig

PRESET_NAMES = ("cpu_small", "paper")
STRATEGIES = ("default", "mirrored", "multi_worker")


@dataclasses.dataclass(frozen=True)
class PaperSetup:
    """A paper's setup: what ``--preset paper`` runs, and what the paper reports.

    Attributes:
        title: method name as printed.
        paper: authors, title, venue and year.
        config: the ImageNet-scale ``PretrainConfig``.
        reported: the paper's headline figure for this setup.
        notes: where the library's version departs from the paper.

    Example:

    >>> from keras_contrastive.recipes import PAPERS
    >>> setup = PAPERS["simclr"]
    >>> setup.config.batch_size, setup.config.optimizer, setup.reported
    (4096, 'lars', '69.3 % linear top-1 (ResNet-50, 1000 epochs, batch 4096)')
    """

    title: str
    paper: str
    config: PretrainConfig
    reported: str
    notes: tuple = ()


def _imagenet(method, **changes):
    """ResNet-50 on ImageNet at 224 px, MoCo-v2's views, evaluated on all labels."""
    base = PretrainConfig(
        method=method, dataset="imagenet2012", backbone="resnet50", width=64, stem="imagenet",
        image_size=224, crop_scale=(0.2, 1.0), jitter_strength=0.5, blur_prob=0.5,
        momentum=0.9, warmup_epochs=0)  # explicit: not the protocol's per-method warm-up
    return base.replace(**changes)


def _lr(base, batch):
    """The papers' linear scaling rule: ``base * batch / 256``."""
    return base * batch / 256


# SimCLR's ImageNet views: crops of 8-100 % of the area, colour strength 1.0
_SIMCLR_VIEWS = {"crop_scale": (0.08, 1.0), "jitter_strength": 1.0}
# BYOL's views (MoCo v3 and NNCLR use them): BYOL's jitter is SimCLR's at
# strength 0.5; blur 1.0 / 0.1 on the two views and solarization 0 / 0.2
# become one blur probability of 0.5 (the library draws both views alike)
_BYOL_VIEWS = {"crop_scale": (0.08, 1.0), "jitter_strength": 0.5}
_SAME_VIEWS_NOTE = ("both views get blur with probability 0.5 (the paper: 1.0 on one view, 0.1 "
                    "and solarization 0.2 on the other)")
_COSINE_NOTE = "cosine learning-rate decay in place of the paper's step schedule"
_PRETEXT_NOTE = ("ResNet-50 in place of the paper's AlexNet: linear figures are not comparable "
                 "with the paper's layer-wise ones")

PAPERS = {
    "simclr": PaperSetup(
        "SimCLR", "Chen, Kornblith, Norouzi, Hinton: A Simple Framework for Contrastive "
        "Learning of Visual Representations (ICML 2020)",
        _imagenet("simclr", batch_size=4096, epochs=1000, optimizer="lars",
                  learning_rate=_lr(0.3, 4096), weight_decay=1e-6, warmup_epochs=10,
                  temperature=0.1, projection_dim=128, model_options={"hidden_dim": 2048},
                  **_SIMCLR_VIEWS),
        "69.3 % linear top-1 (ResNet-50, 1000 epochs, batch 4096)"),
    "moco_v1": PaperSetup(
        "MoCo v1", "He, Fan, Wu, Xie, Girshick: Momentum Contrast for Unsupervised Visual "
        "Representation Learning (CVPR 2020)",
        _imagenet("moco_v1", batch_size=256, epochs=200, learning_rate=0.03, weight_decay=1e-4,
                  temperature=0.07, projection_dim=128, key_momentum=0.999, blur_prob=0.0,
                  model_options={"queue_size": 65536}),
        "60.6 % linear top-1 (ResNet-50, 200 epochs)",
        (_COSINE_NOTE,)),
    "moco_v2": PaperSetup(
        "MoCo v2", "Chen, Fan, Girshick, He: Improved Baselines with Momentum Contrastive "
        "Learning (arXiv 2020)",
        _imagenet("moco_v2", batch_size=256, epochs=200, learning_rate=0.03, weight_decay=1e-4,
                  temperature=0.2, projection_dim=128, key_momentum=0.999,
                  model_options={"queue_size": 65536, "hidden_dim": 2048}),
        "67.5 % linear top-1 (ResNet-50, 200 epochs; 71.1 % at 800)"),
    "moco_v3": PaperSetup(
        "MoCo v3", "Chen, Xie, He: An Empirical Study of Training Self-Supervised Vision "
        "Transformers (ICCV 2021)",
        _imagenet("moco_v3", batch_size=4096, epochs=300, optimizer="lars",
                  learning_rate=_lr(0.3, 4096), weight_decay=1.5e-6, warmup_epochs=10,
                  temperature=1.0, projection_dim=256,
                  model_options={"hidden_dim": 4096, "momentum": 0.99}, **_BYOL_VIEWS),
        "72.8 % linear top-1 (ResNet-50, 300 epochs)",
        (_SAME_VIEWS_NOTE,)),
    "byol": PaperSetup(
        "BYOL", "Grill et al.: Bootstrap Your Own Latent (NeurIPS 2020)",
        _imagenet("byol", batch_size=4096, epochs=1000, optimizer="lars",
                  learning_rate=_lr(0.2, 4096), weight_decay=1.5e-6, warmup_epochs=10,
                  projection_dim=256, model_options={"hidden_dim": 4096, "momentum": 0.996},
                  **_BYOL_VIEWS),
        "74.3 % linear top-1 (ResNet-50, 1000 epochs)",
        (_SAME_VIEWS_NOTE,)),
    "simsiam": PaperSetup(
        "SimSiam", "Chen, He: Exploring Simple Siamese Representation Learning (CVPR 2021)",
        _imagenet("simsiam", batch_size=512, epochs=100, learning_rate=_lr(0.05, 512),
                  weight_decay=1e-4,
                  model_options={"projection_dim": 2048, "predictor_dim": 512}),
        "68.1 % linear top-1 (ResNet-50, 100 epochs; 71.3 % at 800)"),
    "nnclr": PaperSetup(
        "NNCLR", "Dwibedi, Aytar, Tompson, Sermanet, Zisserman: With a Little Help from My "
        "Friends (ICCV 2021)",
        _imagenet("nnclr", batch_size=4096, epochs=1000, optimizer="lars",
                  learning_rate=_lr(0.3, 4096), weight_decay=1e-6, warmup_epochs=10,
                  temperature=0.1, projection_dim=256,
                  model_options={"support_size": 98304, "hidden_dim": 2048,
                                 "prediction_hidden_dim": 4096},
                  **_BYOL_VIEWS),
        "75.4 % linear top-1 (ResNet-50, 1000 epochs)",
        (_SAME_VIEWS_NOTE,)),
    "knn_moco": PaperSetup(
        "kNN-MoCo", "Van Gansbeke, Vandenhende, Georgoulis, Van Gool: Revisiting Contrastive "
        "Methods for Unsupervised Learning of Visual Representations (NeurIPS 2021)",
        _imagenet("knn_moco", batch_size=256, epochs=200, learning_rate=0.3, weight_decay=1e-4,
                  temperature=0.2, projection_dim=128, key_momentum=0.995, image_size=160,
                  local_crops=4, local_size=96, min_overlap=0.2, stronger=True,
                  model_options={"queue_size": 65536, "hidden_dim": 2048, "k": 20,
                                 "nn_weight": 0.4, "warmup_epochs": 5}),
        "55.9 % ImageNet linear top-1 and 71.9 mIoU VOC segmentation after 200 epochs on COCO "
        "(Table 4; 56.1 % and 73.5 after 800, Table 9)",
        ("the paper pretrains on COCO, whose images have no class labels: pass "
         "--dataset for the pretraining data; the recipe evaluates on that data set's labels",
         "the lowered key momentum is 0.995 (the library's KNNMoCo default)")),
    "leoclr": PaperSetup(
        "LeOCLR", "Alkhalefi, Leontidis, Zhong: LeOCLR: Leveraging Original Images for "
        "Contrastive Learning of Visual Representations (TMLR 2024)",
        _imagenet("leoclr", batch_size=256, epochs=800, learning_rate=0.03, weight_decay=1e-4,
                  temperature=0.2, projection_dim=128, key_momentum=0.999,
                  model_options={"queue_size": 65536, "hidden_dim": 2048}),
        "76.2 % linear top-1 (ResNet-50, 800 epochs; 71.7 % at 200)"),
    "barlow_twins": PaperSetup(
        "Barlow Twins", "Zbontar, Jing, Misra, LeCun, Deny: Barlow Twins (ICML 2021)",
        _imagenet("barlow_twins", batch_size=2048, epochs=1000, optimizer="lars",
                  learning_rate=_lr(0.2, 2048), weight_decay=1.5e-6, warmup_epochs=10,
                  model_options={"projection_dim": 8192, "hidden_dim": 8192, "lambda_": 5e-3},
                  **_BYOL_VIEWS),
        "73.2 % linear top-1 (ResNet-50, 1000 epochs)",
        (_SAME_VIEWS_NOTE, "one learning rate for weights and biases (the paper: 0.2 and "
                           "0.0048 x batch / 256)")),
    "vicreg": PaperSetup(
        "VICReg", "Bardes, Ponce, LeCun: VICReg (ICLR 2022)",
        _imagenet("vicreg", batch_size=2048, epochs=1000, optimizer="lars",
                  learning_rate=_lr(0.2, 2048), weight_decay=1e-6, warmup_epochs=10,
                  model_options={"projection_dim": 8192, "hidden_dim": 8192},
                  **_BYOL_VIEWS),
        "73.2 % linear top-1 (ResNet-50, 1000 epochs)",
        (_SAME_VIEWS_NOTE,)),
    "swav": PaperSetup(
        "SwAV", "Caron, Misra, Mairal, Goyal, Bojanowski, Joulin: Unsupervised Learning of "
        "Visual Features by Contrasting Cluster Assignments (NeurIPS 2020)",
        _imagenet("swav", batch_size=4096, epochs=800, optimizer="lars",
                  learning_rate=_lr(0.3, 4096), weight_decay=1e-6, warmup_epochs=10,
                  temperature=0.1, projection_dim=128, crop_scale=(0.14, 1.0),
                  jitter_strength=1.0, local_crops=6, local_size=96,
                  model_options={"hidden_dim": 2048, "num_prototypes": 3000, "epsilon": 0.05,
                                 "sinkhorn_iterations": 3, "freeze_prototypes_epochs": 1}),
        "75.3 % linear top-1 (ResNet-50, 800 epochs, 2x224 + 6x96 crops)",
        ("local crops of 5-14 % of the area (the library's multi-crop range)",)),
    "dino": PaperSetup(
        "DINO", "Caron et al.: Emerging Properties in Self-Supervised Vision Transformers "
        "(ICCV 2021)",
        _imagenet("dino", batch_size=1024, epochs=800, learning_rate=_lr(0.03, 1024),
                  weight_decay=1e-4, warmup_epochs=10, crop_scale=(0.14, 1.0), local_crops=6,
                  local_size=96,
                  model_options={"out_dim": 65536, "hidden_dim": 2048, "bottleneck_dim": 256,
                                 "use_bn_in_head": True, "teacher_temperature": 0.07,
                                 "warmup_teacher_temperature": 0.04,
                                 "warmup_teacher_temperature_epochs": 30,
                                 "momentum": 0.996, "freeze_last_layer_epochs": 1},
                  jitter_strength=_BYOL_VIEWS["jitter_strength"]),
        "75.3 % linear top-1, 67.5 % kNN (ResNet-50; 77.0 % / 74.5 % with ViT-S/16)",
        ("the ResNet-50 setup of the official code (SGD, BN in the head, crops 0.14-1 and "
         "0.05-0.14); the paper's table does not state its epochs (800 here)",
         "the paper's headline, ViT-S/16 (77.0 % / 74.5 %, AdamW), is not this preset: "
         "backbone='vit_small' with optimizer='adamw' builds it")),
    "supcon": PaperSetup(
        "SupCon", "Khosla et al.: Supervised Contrastive Learning (NeurIPS 2020)",
        _imagenet("supcon", batch_size=6144, epochs=700, optimizer="lars",
                  learning_rate=_lr(0.2, 6144), weight_decay=1e-6, warmup_epochs=10,
                  temperature=0.1, projection_dim=128, model_options={"hidden_dim": 2048},
                  **_SIMCLR_VIEWS),
        "78.7 % top-1 (ResNet-50, 700 epochs, linear classifier on the frozen encoder)",
        ("uses the labels: a supervised reference, not a self-supervised result",
         "LARS at the library's 0.2 x batch / 256 (see the paper's appendix for its rate)")),
    "cpc": PaperSetup(
        "CPC", "van den Oord, Li, Vinyals: Representation Learning with Contrastive "
        "Predictive Coding (arXiv 2018)",
        _imagenet("cpc", image_size=256, batch_size=512, epochs=100, optimizer="adam",
                  learning_rate=2e-4, crop_scale=(0.5, 1.0), blur_prob=0.0,
                  model_options={"grid": 7, "prediction_steps": 5, "context": "masked_conv"}),
        "48.7 % linear top-1 (ResNet-v2-101 patch encoder)",
        ("ResNet-50 patch encoder in place of the paper's ResNet-v2-101",
         "7x7 grid of 64-px patches with 32-px overlap on 256 px images, as in the paper")),
    "rotation": PaperSetup(
        "RotNet", "Gidaris, Singh, Komodakis: Unsupervised Representation Learning by "
        "Predicting Image Rotations (ICLR 2018)",
        _imagenet("rotation", batch_size=192, epochs=30, learning_rate=0.1, weight_decay=5e-4,
                  crop_scale=(0.08, 1.0), jitter_strength=0.0, blur_prob=0.0),
        "38.7 % ImageNet linear top-1 on AlexNet's conv3 features",
        (_PRETEXT_NOTE, _COSINE_NOTE)),
    "jigsaw": PaperSetup(
        "Jigsaw", "Noroozi, Favaro: Unsupervised Learning of Visual Representations by "
        "Solving Jigsaw Puzzles (ECCV 2016)",
        _imagenet("jigsaw", image_size=225, batch_size=256, epochs=70, learning_rate=0.01,
                  weight_decay=5e-4, crop_scale=(0.08, 1.0), jitter_strength=0.0,
                  blur_prob=0.0, model_options={"num_permutations": 1000}),
        "67.6 % mAP on PASCAL VOC 2007 classification (fine-tuned AlexNet)",
        (_PRETEXT_NOTE, "3x3 tiles of a 225 px image; 70 epochs ~ the paper's 350k "
                        "iterations at batch 256")),
    "colorization": PaperSetup(
        "Colorization", "Zhang, Isola, Efros: Colorful Image Colorization (ECCV 2016)",
        _imagenet("colorization", batch_size=40, epochs=15, optimizer="adam",
                  learning_rate=3e-5, crop_scale=(0.08, 1.0), jitter_strength=0.0,
                  blur_prob=0.0),
        "65.9 % mAP on PASCAL VOC 2007 classification (fine-tuned)",
        ("regression of the ab channels (the paper classifies 313 ab bins with class "
         "rebalancing)", "ResNet-50 in place of the paper's VGG-style network")),
    "inpainting": PaperSetup(
        "Context encoder", "Pathak, Krahenbuhl, Donahue, Darrell, Efros: Context Encoders: "
        "Feature Learning by Inpainting (CVPR 2016)",
        _imagenet("inpainting", image_size=128, batch_size=64, epochs=100, optimizer="adam",
                  learning_rate=2e-4, crop_scale=(0.08, 1.0), jitter_strength=0.0,
                  blur_prob=0.0, model_options={"region": "random", "mask_fraction": 0.5}),
        "56.5 % mAP on PASCAL VOC 2007 classification (fine-tuned AlexNet)",
        ("a reconstruction loss only (the paper adds an adversarial term, weight 0.001)",
         "square masks at random positions (the paper's best: random regions of any shape)",
         _PRETEXT_NOTE)),
}
# methods whose loss reads PretrainConfig.temperature
_TEMPERATURE_METHODS = ("simclr", "moco_v1", "moco_v2", "moco_v3", "nnclr", "knn_moco", "leoclr",
                        "swav", "supcon")
# the quality protocol's data, except where the method needs colour
_CPU_SMALL_DATA = {"colorization": "fashion_mnist_tinted"}


def preset_config(method, preset):
    """The ``PretrainConfig`` of ``method`` under ``preset`` (``cpu_small`` or ``paper``).

    Example:

    >>> from keras_contrastive.recipes import preset_config
    >>> preset_config("swav", "paper").local_crops, preset_config("swav", "cpu_small").local_crops
    (6, 0)
    """
    if method not in PAPERS:
        raise ValueError(f"no recipe for {method!r}; recipes exist for {sorted(PAPERS)}.")
    if preset == "paper":
        return PAPERS[method].config
    if preset == "cpu_small":
        return PRESETS["quality"].replace(
            method=method, dataset=_CPU_SMALL_DATA.get(method, "fashion_mnist"))
    raise ValueError(f"unknown preset {preset!r}; choose one of {PRESET_NAMES}.")


def _optimizer_text(config):
    text = (f"{config.optimizer_name.upper()}, lr {config.peak_learning_rate:g}, "
            f"wd {config.effective_weight_decay:g}")
    warmup = config.effective_warmup_epochs
    if warmup:
        text += f", {warmup} warm-up epoch{'s' if warmup != 1 else ''}"
    return text + ", cosine"


def _views_text(config):
    size = f"{config.image_size} px" if config.image_size else "native-size"
    text = f"{size} crops {config.crop_scale[0]:g}-{config.crop_scale[1]:g}"
    if config.local_crops:
        text += f" + {config.local_crops} local x {config.local_size} px"
    if config.min_overlap:
        text += f" (>= {config.min_overlap:.0%} in the key crop)"
    if config.stronger:
        text += ", A+"
    if config.jitter_strength:
        text += f", jitter {config.jitter_strength:g}"
    if config.blur_prob:
        text += f", blur {config.blur_prob:g}"
    return text


def describe(config):
    """``(setting, value)`` rows of one configuration (the recipe tables and the run's header).

    Example:

    >>> from keras_contrastive.recipes import describe, preset_config
    >>> dict(describe(preset_config("simclr", "paper")))["optimizer"]
    'LARS, lr 4.8, wd 1e-06, 10 warm-up epochs, cosine'
    """
    if config.backbone.startswith("vit"):
        backbone = {"vit_small": "ViT-S/16", "vit_tiny": "ViT-Tiny/4"}[config.backbone]
    else:
        backbone = (f"{config.backbone.replace('resnet', 'ResNet-')} width {config.width}, "
                    f"{config.stem} stem")
    options = ", ".join(f"{k}={v}" for k, v in sorted(config.model_options.items()))
    rows = [("data", config.dataset + (f"[:{config.train_subset}]" if config.train_subset
                                       else "")),
            ("backbone", backbone),
            ("epochs x batch", f"{config.epochs} x {config.batch_size}"),
            ("optimizer", _optimizer_text(config)),
            ("views", _views_text(config)),
            ("temperature", f"{config.temperature:g}"),
            ("model arguments", options or "protocol (pretraining.METHODS)")]
    if config.method not in _TEMPERATURE_METHODS:
        rows = [row for row in rows if row[0] != "temperature"]
    return rows


def settings_rows(method):
    """``(setting, paper value, cpu_small value)`` rows of the recipe's table.

    Example:

    >>> from keras_contrastive.recipes import settings_rows
    >>> settings_rows("moco_v2")[2]
    ('epochs x batch', '200 x 256', '5 x 256')
    """
    paper = describe(preset_config(method, "paper"))
    small = describe(preset_config(method, "cpu_small"))
    return [(name, value, other) for (name, value), (_, other) in zip(paper, small)] + [
        ("paper's result", PAPERS[method].reported, "BENCHMARKS.md")]


def settings_table(method):
    """The recipe's settings as a reStructuredText table (its docstring holds it).

    Example:

    >>> from keras_contrastive.recipes import settings_table
    >>> print(settings_table("simsiam").splitlines()[1])  # doctest: +NORMALIZE_WHITESPACE
    setting --preset paper --preset cpu_small
    """
    rows = [("setting", "--preset paper", "--preset cpu_small"), *settings_rows(method)]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    rule = "  ".join("=" * w for w in widths)
    line = lambda r: "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([rule, line(rows[0]), rule, *map(line, rows[1:]), rule])


def recipe_source(method):
    """The text of ``recipes/<method>.py``.

    Example:

    >>> from keras_contrastive.recipes import recipe_source
    >>> print(recipe_source("byol").splitlines()[-1])
        recipes.main("byol")
    """
    setup = PAPERS[method]
    notes = "".join(f"\n* {note}" for note in setup.notes)
    notes = f"\nDepartures from the paper:\n{notes}\n" if notes else ""
    return f'''"""{setup.title} with keras-contrastive: pretrain, evaluate, export.

{setup.paper}.

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/{method}.py --preset cpu_small --epochs 5
    python recipes/{method}.py --preset paper --dataset imagenet2012 --strategy mirrored

``--preset cpu_small`` is the library's Fashion-MNIST quality protocol (its
figures are in BENCHMARKS.md); ``--preset paper`` the paper's ImageNet-scale
setup.  ``--dataset`` takes ``fashion_mnist``, an image folder or a TFDS
name; ``--strategy`` ``default``, ``mirrored`` or ``multi_worker`` (cluster
from ``TF_CONFIG``).  The run ends with kNN and linear-probe accuracy of the
frozen encoder and its export to ``--export`` (TF Serving layout).
``--dry_run`` builds the model and prints the settings without training.
``python recipes/{method}.py --help`` lists every flag.

{settings_table(method)}
{notes}"""
from keras_contrastive import recipes

recipes.define_flags("{method}")

if __name__ == "__main__":
    recipes.main("{method}")
'''


def define_flags(method, flag_values=None):
    """Defines the recipe flags in ``flag_values`` (default: absl's global
    ``FLAGS``), once (a notebook may re-run the cell).

    Example:

    >>> from absl import flags
    >>> from keras_contrastive import recipes
    >>> values = flags.FlagValues()
    >>> recipes.define_flags("byol", values)
    >>> values["preset"].default, values["strategy"].default, values["export"].default
    ('cpu_small', 'default', 'saved_models/byol')
    """
    from absl import flags

    flag_values = flags.FLAGS if flag_values is None else flag_values
    if "preset" in flag_values:
        return
    fv = {"flag_values": flag_values}
    flags.DEFINE_enum("preset", "cpu_small", list(PRESET_NAMES),
                      "cpu_small: the Fashion-MNIST quality protocol; paper: the paper's setup",
                      **fv)
    flags.DEFINE_string("dataset", None, "fashion_mnist, an image folder or a TFDS name "
                        "(default: the preset's)", **fv)
    flags.DEFINE_integer("epochs", None, "pretraining epochs (default: the preset's)", **fv)
    flags.DEFINE_integer("batch_size", None, "global batch (default: the preset's)", **fv)
    flags.DEFINE_float("learning_rate", None, "peak learning rate (default: the preset's)", **fv)
    flags.DEFINE_integer("train_subset", None, "pretrain on the first N training images", **fv)
    flags.DEFINE_integer("eval_subset", None, "labelled images (train and test) for kNN/linear",
                         **fv)
    flags.DEFINE_enum("strategy", "default", list(STRATEGIES),
                      "tf.distribute strategy (multi_worker reads the cluster from TF_CONFIG)",
                      **fv)
    flags.DEFINE_integer("cpu_devices", 0, "split the CPU into N logical devices (tries "
                         "--strategy mirrored on a machine without GPUs)", **fv)
    flags.DEFINE_string("export", os.path.join("saved_models", method),
                        "write the encoder to DIR/1/ (TF Serving layout); '' to skip", **fv)
    flags.DEFINE_string("logdir", None, "TensorBoard logs: loss, representation health, "
                        "kNN accuracy per epoch, the views", **fv)
    flags.DEFINE_bool("random_init", False, "also evaluate the encoder at random init", **fv)
    flags.DEFINE_bool("dry_run", False, "build the model and print the settings, no training",
                      **fv)
    flags.DEFINE_integer("seed", 0, "global seed", **fv)


def _strategy(name, cpu_devices):
    import tensorflow as tf

    if cpu_devices:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = None if gpus else [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multi_worker reads the cluster from the TF_CONFIG "
                             "environment variable, which is not set (docs/DISTRIBUTED.md).")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def config_from_flags(method, flags_values):
    """The run's ``PretrainConfig``: the preset, then the flags given.

    Example:

    >>> from absl import flags
    >>> from keras_contrastive import recipes
    >>> values = flags.FlagValues()
    >>> recipes.define_flags("byol", values)
    >>> _ = values(["recipe", "--preset=paper", "--epochs=100"])
    >>> config = recipes.config_from_flags("byol", values)
    >>> config.epochs, config.batch_size
    (100, 4096)
    """
    config = preset_config(method, flags_values.preset)
    changes = {name: getattr(flags_values, name)
               for name in ("dataset", "epochs", "batch_size", "learning_rate", "train_subset")}
    return config.replace_given(seed=flags_values.seed, eval_train_subset=flags_values.eval_subset,
                                eval_test_subset=flags_values.eval_subset, **changes)


def run(method, flags_values):
    """Runs the recipe ``method`` with parsed flags; returns the ``PretrainResult``
    (``None`` for ``--dry_run``).

    Example:

    >>> from absl import flags
    >>> from keras_contrastive import recipes
    >>> values = flags.FlagValues()
    >>> recipes.define_flags("byol", values)
    >>> _ = values(["recipe", "--preset=paper", "--dry_run"])
    >>> recipes.run("byol", values)  # doctest: +ELLIPSIS
    BYOL, --preset paper, 1 replica(s):
      data            imagenet2012
      backbone        ResNet-50 width 64, imagenet stem
    ...
      parameters      23,561,152 in the encoder
    """
    from keras_contrastive import distribute
    from keras_contrastive.export import check_export_path
    from keras_contrastive.pretraining import (
        build_model, build_optimizer, encoder_input_shape, export_pretrained, format_report,
        pretrain)

    config = config_from_flags(method, flags_values)
    strategy = _strategy(flags_values.strategy, flags_values.cpu_devices)
    print(f"{PAPERS[method].title}, --preset {flags_values.preset}, "
          f"{strategy.num_replicas_in_sync} replica(s):")
    for setting, value in describe(config):
        print(f"  {setting:<16}{value}")
    if flags_values.dry_run:
        with strategy.scope():
            model = build_model(config, encoder_input_shape(config, config.image_size or 28, 3))
            model.compile(optimizer=build_optimizer(config, steps_per_epoch=100))
        print(f"  {'parameters':<16}{model.encoder.count_params():,} in the encoder")
        return None
    chief = distribute.is_chief(strategy)
    if flags_values.export and chief:
        check_export_path(flags_values.export, 1, overwrite=True)  # fail before training
    from keras_contrastive.callbacks import NaNGuard

    result = pretrain(config, callbacks=[NaNGuard()], strategy=strategy,
                      evaluate_random_init=flags_values.random_init,
                      verbose=1 if sys.stdout.isatty() else 2,
                      logdir=flags_values.logdir if chief else None)
    print()
    print(format_report(config, result))
    if flags_values.export and chief:
        path = export_pretrained(config, result, flags_values.export, overwrite=True)
        print(f"encoder exported to {path}")
    return result


def _underscored(argv):
    """``--train-subset 2048`` -> ``--train_subset 2048`` (both spellings work)."""
    out = []
    for arg in argv:
        if arg.startswith("--") and "-" in arg.split("=")[0][2:]:
            name, sep, value = arg[2:].partition("=")
            arg = "--" + name.replace("-", "_") + sep + value
        out.append(arg)
    return out


def main(method, argv=None):
    """The recipe's entry point: parses flags (``argv`` or ``sys.argv``; in a
    notebook, the defaults) and runs it.

    Example:

    >>> from keras_contrastive import recipes
    >>> try:  # what `python recipes/simsiam.py --preset paper --dry_run` runs
    ...     recipes.main("simsiam", ["recipe", "--preset", "paper", "--dry-run"])
    ... except SystemExit as exit:
    ...     print("exit code", exit.code)  # doctest: +ELLIPSIS
    SimSiam, --preset paper, 1 replica(s):
    ...
    exit code 0
    """
    from absl import flags

    define_flags(method)
    results = []

    def _main(_):
        from absl import logging

        # on the command line, TF's INFO lines drown the report
        if not _in_notebook(argv) and not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
        results.append(run(method, flags.FLAGS))
        return 0

    run_script(_main, method, argv)  # exits on the command line
    return results[0]


def _in_notebook(argv):
    """A notebook cell (Colab, Jupyter) with no explicit ``argv``: flags take their defaults."""
    return "ipykernel" in sys.modules and argv is None


def run_script(main, name, argv=None):
    """Runs a hand-written recipe's absl ``main(argv)``: with the command line's
    flags (``argv`` or ``sys.argv``; ``--train-subset`` and ``--train_subset`` both
    work), or, in a notebook cell (Colab), with the flags' defaults.

    Example:

    >>> from keras_contrastive import recipes
    >>> def main(argv):
    ...     print("arguments left:", argv[1:])
    ...     return 0
    >>> try:
    ...     recipes.run_script(main, "demo", ["demo", "extra"])
    ... except SystemExit as exit:
    ...     print("exit code", exit.code)
    arguments left: ['extra']
    exit code 0
    """
    from absl import app, flags

    if _in_notebook(argv):
        flags.FLAGS([name])
        return main([name])
    return app.run(main, argv=_underscored(argv if argv is not None else sys.argv))


def define_comparison_flags(flag_values=None):
    """Defines the flags of the comparison recipes (several pretraining runs at the
    quality protocol, one table): ``--epochs``, ``--batch_size``, ``--width``,
    ``--train_subset``, ``--eval_subset``, ``--out``, ``--seed``.

    Example:

    >>> from absl import flags
    >>> from keras_contrastive import recipes
    >>> values = flags.FlagValues()
    >>> recipes.define_comparison_flags(values)
    >>> values(["recipe", "--epochs=2", "--eval_subset=500"])  # doctest: +ELLIPSIS
    [...]
    >>> config = recipes.comparison_config(values)
    >>> config.epochs, config.width, config.eval_test_subset
    (2, 16, 500)
    """
    from absl import flags

    flag_values = flags.FLAGS if flag_values is None else flag_values
    if "eval_subset" in flag_values:  # a notebook may re-run the cell
        return
    fv = {"flag_values": flag_values}
    flags.DEFINE_integer("epochs", 5, "pretraining epochs per row", **fv)
    flags.DEFINE_integer("batch_size", 256, "global batch", **fv)
    flags.DEFINE_integer("width", 16, "ResNet-18 width", **fv)
    flags.DEFINE_integer("train_subset", None, "pretrain on the first N training images", **fv)
    flags.DEFINE_integer("eval_subset", None, "labelled images for kNN / linear (train and test)",
                         **fv)
    flags.DEFINE_string("out", None, "write the table (markdown) and JSON lines here", **fv)
    flags.DEFINE_integer("seed", 0, "global seed", **fv)


def comparison_config(flags_values):
    """The quality protocol (``PRESETS["quality"]``) with the comparison flags applied:
    the base every row of a comparison recipe changes.

    Example:

    >>> from absl import flags
    >>> from keras_contrastive import recipes
    >>> values = flags.FlagValues()
    >>> recipes.define_comparison_flags(values)
    >>> values(["recipe", "--train_subset=2048"])  # doctest: +ELLIPSIS
    [...]
    >>> config = recipes.comparison_config(values)
    >>> config.method, config.train_subset, config.batch_size
    ('simclr', 2048, 256)
    """
    return PRESETS["quality"].replace(
        epochs=flags_values.epochs, batch_size=flags_values.batch_size, width=flags_values.width,
        train_subset=flags_values.train_subset, eval_train_subset=flags_values.eval_subset,
        eval_test_subset=flags_values.eval_subset, seed=flags_values.seed)


def write_comparison(table, records, out=None):
    """Prints a markdown table (a list of lines) and, when ``out`` is given, writes it
    followed by one JSON line per record (what the comparison recipes leave behind).

    Example:

    >>> import os, tempfile
    >>> from keras_contrastive.recipes import write_comparison
    >>> path = os.path.join(tempfile.mkdtemp(), "table.md")
    >>> write_comparison(["| row | acc |", "|---|---|", "| A | 0.5 |"], [{"row": "A"}], path)
    <BLANKLINE>
    | row | acc |
    |---|---|
    | A | 0.5 |
    >>> open(path).read().splitlines()[-1]
    '{"row": "A"}'
    """
    import json

    text = "\n".join(table)
    print("\n" + text)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n\n" + "\n".join(json.dumps(r) for r in records) + "\n")


def write_recipes(directory):
    """Writes ``recipes/<method>.py`` for every method; returns their paths.

    Example:

    >>> import os, tempfile
    >>> from keras_contrastive.recipes import write_recipes
    >>> paths = write_recipes(tempfile.mkdtemp())
    >>> len(paths), os.path.basename(paths[0])
    (19, 'simclr.py')
    """
    paths = []
    for method in PAPERS:
        path = os.path.join(directory, f"{method}.py")
        with open(path, "w") as f:
            f.write(recipe_source(method))
        paths.append(path)
    return paths


if __name__ == "__main__":
    if sys.argv[1:2] != ["write"] or len(sys.argv) != 3:
        sys.exit("usage: python -m keras_contrastive.recipes write DIRECTORY")
    for written in write_recipes(sys.argv[2]):
        print(written)
