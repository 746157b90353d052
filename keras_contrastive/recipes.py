"""The engine of ``recipes/<method>.py``: one script per method, two presets.

Every recipe is the same few lines: the method's name and a docstring table
of its settings.  This module holds what they share:

* ``PAPERS[method]``: the paper's ImageNet-scale setup (``--preset paper``),
  as a ``PretrainConfig`` (backbone, input size, batch, optimizer and
  schedule, views, the model's own arguments) with the paper's reported
  figure and the places where the library departs from it, built from the
  method's registration (``MethodSpec.paper``, in the method's own file);
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

from keras_contrastive.models.registry import get_method, method_names
from keras_contrastive.pretraining import PAPER_BASE, PRESETS, PretrainConfig
from keras_contrastive.pretraining.flags import define_config_flags

PRESET_NAMES = ("cpu_small", "paper")
STRATEGIES = ("default", "mirrored", "multi_worker")
# the PretrainConfig fields a recipe's flags set (generated: pretraining.flags)
RECIPE_CONFIG_FLAGS = ("dataset", "epochs", "batch_size", "learning_rate", "train_subset", "seed",
                       "image_size", "backbone", "width")
# ... and those of the comparison recipes (defaults: the quality protocol's)
COMPARISON_CONFIG_FLAGS = ("epochs", "batch_size", "backbone", "width", "train_subset", "seed")


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


def paper_setup(method):
    """The :class:`PaperSetup` of ``method``: its registration's ``Paper`` with the
    settings applied to ``pretraining.PAPER_BASE``.

    Example:

    >>> from keras_contrastive.recipes import paper_setup
    >>> setup = paper_setup("moco_v2")
    >>> setup.title, setup.config.dataset, setup.config.model_options["queue_size"]
    ('MoCo v2', 'imagenet2012', 65536)
    """
    paper = get_method(method).paper
    return PaperSetup(paper.title, paper.citation,
                      PAPER_BASE.replace(method=method, **paper.settings), paper.reported,
                      tuple(paper.notes))


def __getattr__(name):
    """``PAPERS``: ``{method: PaperSetup}`` of every registered method, read from
    the registry when asked for."""
    if name == "PAPERS":
        return {method: paper_setup(method) for method in method_names()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def preset_config(method, preset):
    """The ``PretrainConfig`` of ``method`` under ``preset`` (``cpu_small`` or ``paper``).

    Example:

    >>> from keras_contrastive.recipes import preset_config
    >>> preset_config("swav", "paper").local_crops, preset_config("swav", "cpu_small").local_crops
    (6, 0)
    """
    if method not in method_names():
        raise ValueError(f"no recipe for {method!r}; recipes exist for {list(method_names())}.")
    if preset == "paper":
        return paper_setup(method).config
    if preset == "cpu_small":
        spec = get_method(method)
        return PRESETS["quality"].replace(method=method, dataset=spec.cpu_small_data,
                                          **spec.cpu_small_settings)
    raise ValueError(f"unknown preset {preset!r}; choose one of {PRESET_NAMES}.")


def _optimizer_text(config):
    text = (f"{config.optimizer_name.upper()}, lr {config.peak_learning_rate:g}, "
            f"wd {config.effective_weight_decay:g}")
    warmup = config.effective_warmup_epochs
    if warmup:
        text += f", {warmup} warm-up epoch{'s' if warmup != 1 else ''}"
    return text + ", cosine"


def _views_text(config):
    size = config.image_size
    size = ("native-size" if not size else
            f"{size[0]}x{size[1]} px" if isinstance(size, tuple) else f"{size} px")
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
        backbone = {"vit_small": "ViT-S/16", "vit_tiny": "ViT-Tiny/4",
                    "vit_micro": "ViT-Micro/4 (96 wide, 4 blocks)"}[config.backbone]
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
            ("model arguments", options or "protocol (MethodSpec.protocol)")]
    if not get_method(config.method).uses_temperature:
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
        ("paper's result", get_method(method).paper.reported, "BENCHMARKS.md")]


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
    setup = paper_setup(method)
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
    defined_before = set(flag_values)
    flags.DEFINE_enum("preset", "cpu_small", list(PRESET_NAMES),
                      "cpu_small: the Fashion-MNIST quality protocol; paper: the paper's setup",
                      **fv)
    define_config_flags(RECIPE_CONFIG_FLAGS, flag_values, note=" (default: the preset's)")
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
    # absl's --help lists the key flags of the script run (`sys.argv[0]`); flags defined
    # here are this module's, so they would show only under --helpfull
    for name in set(flag_values) - defined_before:
        flag_values.register_key_flag_for_module(sys.argv[0], flag_values[name])


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
    changes = {name: getattr(flags_values, name) for name in RECIPE_CONFIG_FLAGS}
    return config.replace_given(eval_train_subset=flags_values.eval_subset,
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
    print(f"{get_method(method).paper.title}, --preset {flags_values.preset}, "
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
    notebook, ``argv`` or the defaults) and runs it; returns the run's
    ``PretrainResult`` in a notebook (a command line exits).

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
        if not _in_notebook() and not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
        results.append(run(method, flags.FLAGS))
        return 0

    run_script(_main, method, argv)  # exits on the command line
    return results[0]


def _in_notebook():
    """Inside a notebook's kernel (Colab, Jupyter): ``sys.argv`` is the kernel's own."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    return get_ipython() is not None


def run_script(main, name, argv=None):
    """Runs a hand-written recipe's absl ``main(argv)``: with the command line's
    flags (``argv`` or ``sys.argv``; ``--train-subset`` and ``--train_subset`` both
    work), or, in a notebook cell (Colab), with ``argv``'s flags or the defaults,
    returning ``main``'s value; re-running the cell starts from the defaults again.

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

    if _in_notebook():
        flags.FLAGS.unparse_flags()  # a re-run cell's flags: argv's, not the last run's
        return main(flags.FLAGS(_underscored(argv or [name])))
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
    define_config_flags(COMPARISON_CONFIG_FLAGS, flag_values, defaults=PRESETS["quality"])
    flags.DEFINE_integer("eval_subset", None, "labelled images for kNN / linear (train and test)",
                         **fv)
    flags.DEFINE_string("out", None, "write the table (markdown) and JSON lines here", **fv)


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
        eval_train_subset=flags_values.eval_subset, eval_test_subset=flags_values.eval_subset,
        **{name: getattr(flags_values, name) for name in COMPARISON_CONFIG_FLAGS})


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
    >>> from keras_contrastive.models.registry import method_names
    >>> len(paths) == len(method_names()), os.path.basename(paths[0])
    (True, 'barlow_twins.py')
    """
    paths = []
    for method in method_names():
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
