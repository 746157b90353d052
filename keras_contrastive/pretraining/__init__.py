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

from keras_contrastive.models.registry import method_specs
from keras_contrastive.pretraining.builders import (
    BACKBONES, build_augment, build_backbone, build_method, build_model, build_optimizer,
    build_view_maker, encoder_input_shape, protocol_arguments, synchronized_batch_norm,
    uses_view_strategy)
from keras_contrastive.pretraining.config import (
    OPTIMIZER_DEFAULTS, OPTIMIZERS, PAPER_BASE, PRESETS, PretrainConfig)
from keras_contrastive.pretraining.run import (
    PretrainResult, evaluate, export_pretrained, format_report, pretrain, write_view_summary)
from keras_contrastive.pretraining.sources import Split, load_labelled, open_split, open_splits

__all__ = [
    "BACKBONES", "OPTIMIZERS", "OPTIMIZER_DEFAULTS", "PAPER_BASE", "PRESETS", "PretrainConfig",
    "PretrainResult", "Split", "build_augment", "build_backbone", "build_method", "build_model",
    "build_optimizer", "build_view_maker", "encoder_input_shape", "evaluate",
    "export_pretrained", "format_report", "load_labelled", "open_split", "open_splits",
    "pretrain", "protocol_arguments", "synchronized_batch_norm", "uses_view_strategy",
    "write_view_summary",
]


def __getattr__(name):
    """The tables that the method registry replaced, read from it now:
    ``METHODS[name](encoder, config)`` builds a method with the protocol's
    arguments, ``DEFAULT_OPTIMIZERS[name]`` is its protocol optimizer,
    ``ANCHOR_METHODS`` the methods that take ``anchor``."""
    if name == "METHODS":
        return {spec.name: functools.partial(build_method, spec) for spec in method_specs()}
    if name == "DEFAULT_OPTIMIZERS":
        return {spec.name: dict(spec.optimizer) for spec in method_specs() if spec.optimizer}
    if name == "ANCHOR_METHODS":
        return tuple(spec.name for spec in method_specs() if spec.takes_anchor)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

