"""One pretraining run end to end: data -> views -> model.fit -> evaluation.

The CLI (``keras-contrastive pretrain``), ``make demo``,
``benchmarks/quality.py`` and every recipe run :func:`pretrain`, so their
numbers come from the same protocol.  The package is split by job:

* ``config``: ``PretrainConfig`` (everything a run depends on), ``PRESETS``
  (``"quality"``: the library's quality protocol on Fashion-MNIST, see
  BENCHMARKS.md; ``"demo"``: a shorter run of it), ``PAPER_BASE`` and the
  optimizers' protocol defaults;
* ``flags``: the CLI's and the recipes' flags, generated from the config's fields;
* ``builders``: backbone, views, model (from the method's registration,
  ``models.registry``) and optimizer of a config;
* ``sources``: the data by name (``data.NAMED_ARRAYS``, folders, TFDS),
  streamed for training;
* ``run``: ``pretrain`` itself, the report and the export.

``METHODS``, ``DEFAULT_OPTIMIZERS`` and ``ANCHOR_METHODS`` are read from the
method registry when asked for (the tables they were before the registry).

Example (a run: ``pretraining.run``'s docstring; a config):

>>> from keras_contrastive.pretraining import PRESETS
>>> PRESETS["demo"].replace(epochs=1).epochs
1
"""
import functools
import importlib

# name -> the submodule defining it: imported when first asked for, so that
# `pretraining.config` and `pretraining.flags` (the CLI's parser) load without
# TensorFlow, which the builders, sources and run import
_SUBMODULE = {
    **dict.fromkeys(("BACKBONES", "build_augment", "build_backbone", "build_method",
                     "build_model", "build_optimizer", "build_view_maker",
                     "encoder_input_shape", "protocol_arguments", "synchronized_batch_norm",
                     "uses_view_strategy"),
                    "builders"),
    **dict.fromkeys(("OPTIMIZER_DEFAULTS", "OPTIMIZERS", "PAPER_BASE", "PRESETS",
                     "PretrainConfig"), "config"),
    **dict.fromkeys(("PretrainResult", "evaluate", "export_pretrained", "format_report",
                     "pretrain", "read_run_record", "run_record", "save_model",
                     "write_view_summary"), "run"),
    **dict.fromkeys(("Split", "load_labelled", "open_split", "open_splits",
                     "open_training_splits"), "sources"),
}

__all__ = sorted(_SUBMODULE)


def __getattr__(name):
    """The package's names, imported from their submodule when first asked for; and
    the tables that the method registry replaced, read from it now:
    ``METHODS[name](encoder, config)`` builds a method with the protocol's
    arguments, ``DEFAULT_OPTIMIZERS[name]`` is its protocol optimizer,
    ``ANCHOR_METHODS`` the methods that take ``anchor``."""
    if name in _SUBMODULE:
        value = getattr(importlib.import_module(f"{__name__}.{_SUBMODULE[name]}"), name)
        globals()[name] = value
        return value
    if name in ("METHODS", "DEFAULT_OPTIMIZERS", "ANCHOR_METHODS"):
        from keras_contrastive.models.registry import method_specs
        from keras_contrastive.pretraining.builders import build_method

        specs = method_specs()
    if name == "METHODS":
        return {spec.name: functools.partial(build_method, spec) for spec in specs}
    if name == "DEFAULT_OPTIMIZERS":
        return {spec.name: dict(spec.optimizer) for spec in specs if spec.optimizer}
    if name == "ANCHOR_METHODS":
        return tuple(spec.name for spec in specs if spec.takes_anchor)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
