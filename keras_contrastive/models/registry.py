"""The method registry: what the rest of the library knows about each method.

Each method file (``models/simclr.py``, ``models/moco.py``, ...) ends with
``register_method(MethodSpec(...))`` beside its model class: its name, how
the quality protocol builds it, its protocol optimizer, its Fashion-MNIST
data set, and its paper's setup and reported figure.  What views it reads,
whether it takes ``anchor`` and whether it reads ``temperature`` come from
the class itself (its declarations and its constructor), not from lists.
The CLI's choices and ``--help``, the recipes, ``benchmarks/quality.py``,
the README table check and the tests iterate :func:`method_names`, so a new
method is one file.

This module imports nothing of the library above the models (no
``pretraining``, ``recipes`` or ``cli``): a spec's ``protocol`` is a function
of the run's configuration (any object with ``PretrainConfig``'s fields) and
its paper's ``settings`` are ``PretrainConfig`` field values.

Example:

>>> from keras_contrastive.models.registry import get_method, method_names
>>> "simclr" in method_names(), get_method("moco_v1").reads
(True, ('global', 'local'))
>>> get_method("supcon").reads, get_method("simclr").takes_anchor
(('global', 'labels'), True)
"""
import dataclasses
import inspect
import os
import pprint

__all__ = ["MethodSpec", "Paper", "get_method", "manifest_entries", "manifest_source",
           "method_names", "method_specs", "register_method", "unregister_method",
           "write_manifest"]

_REGISTRY = {}

# --- what several methods' paper setups share ---------------------------------------------

#: SimCLR's ImageNet views: crops of 8-100 % of the area, colour strength 1.0.
SIMCLR_VIEWS = {"crop_scale": (0.08, 1.0), "jitter_strength": 1.0}
#: BYOL's views (MoCo v3, NNCLR, Barlow Twins and VICReg use them): BYOL's
#: jitter is SimCLR's at strength 0.5; blur 1.0 / 0.1 on the two views and
#: solarization 0 / 0.2 become one blur probability of 0.5 (the library draws
#: both views alike).
BYOL_VIEWS = {"crop_scale": (0.08, 1.0), "jitter_strength": 0.5}
SAME_VIEWS_NOTE = ("both views get blur with probability 0.5 (the paper: 1.0 on one view, 0.1 "
                   "and solarization 0.2 on the other)")
COSINE_NOTE = "cosine learning-rate decay in place of the paper's step schedule"

#: The protocol optimizer of the methods that the shared SGD (lr 0.06 * B/256,
#: weight decay 5e-4, no warm-up) was measured to fail (BENCHMARKS.md): SGD at
#: lr 0.5 * B/256, weight decay 1e-5 (solo-learn's CIFAR SimSiam setting) and
#: one warm-up epoch.  Each method's file says what it measured.
HIGH_LR_SGD = {"optimizer": "sgd", "base_learning_rate": 0.5, "weight_decay": 1e-5,
               "warmup_epochs": 1}
#: LARS with eta 0.02 and the rate clipped (LARC) at lr 0.3, weight decay 1e-4
#: (solo-learn's CIFAR setting for Barlow Twins and VICReg), one warm-up epoch.
LARC_WARMUP = {"optimizer": "larc", "warmup_epochs": 1}


def linear_scaling(base, batch):
    """The papers' linear scaling rule: ``base * batch / 256``.

    >>> from keras_contrastive.models.registry import linear_scaling
    >>> linear_scaling(0.3, 4096)
    4.8
    """
    return base * batch / 256


@dataclasses.dataclass(frozen=True)
class Paper:
    """A paper's setup (what ``--preset paper`` runs) and what the paper reports.

    Attributes:
        title: the method's name as printed ("SimCLR").
        citation: authors, title, venue and year.
        settings: ``PretrainConfig`` field values over the ImageNet-scale base
            (``pretraining.PAPER_BASE``: ResNet-50 at 224 px, MoCo-v2's
            views), e.g. batch, optimizer, schedule and ``model_options``.
        reported: the paper's headline figure for this setup.
        notes: where the library's version departs from the paper.

    Example:

    >>> from keras_contrastive.models.registry import Paper
    >>> paper = Paper("Toy", "Someone: A toy (2026)", {"batch_size": 512}, "50 % kNN")
    >>> paper.settings["batch_size"], paper.notes
    (512, ())
    """

    title: str
    citation: str
    settings: dict
    reported: str
    notes: tuple = ()


def _constructor_takes(cls, argument):
    return argument in inspect.signature(cls.__init__).parameters


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """Everything the library needs to know about one method, beside its class.

    Attributes:
        name: the method's name (``--method``, ``recipes/<name>.py``,
            ``PretrainConfig.method``).
        model_class: the ``ContrastiveModel`` subclass.
        paper: the method's :class:`Paper`.
        protocol: ``config -> dict`` of constructor arguments of the quality
            protocol (head sizes for a 128-d encoder, queue sizes by the
            batch, ...); ``config`` has ``PretrainConfig``'s fields.  The run
            adds ``temperature`` and ``anchor`` for a class that takes them,
            and ``config.model_options`` override everything.
        optimizer: the protocol's optimizer settings for the method where
            they differ from the shared SGD: ``"optimizer"`` and any of
            ``"base_learning_rate"`` (per 256 images), ``"weight_decay"``,
            ``"warmup_epochs"``; they apply when the run uses that optimizer.
        cpu_small_data: the data set of ``--preset cpu_small``.
        cpu_small_settings: other ``PretrainConfig`` values of ``--preset
            cpu_small`` where the method cannot run the protocol's (MAE's
            backbone: a ViT).
        encoder_input: ``image_shape -> the encoder's input shape`` for a
            method whose encoder reads something else than whole views
            (jigsaw tiles, CPC patches: ``(None, None, C)``; colorization's
            lightness: ``(H, W, 1)``); ``None``: the views' shape.

    What the method reads comes from its class: ``reads`` (the view keys),
    ``takes_anchor`` and ``uses_temperature`` (its constructor's arguments).

    Example:

    >>> import keras, tensorflow as tf
    >>> from keras_contrastive.models import ContrastiveModel
    >>> from keras_contrastive.models.registry import MethodSpec, Paper
    >>> class Align(ContrastiveModel):
    ...     reads_local_views = True
    ...     def __init__(self, encoder, temperature=0.1, **kwargs):
    ...         super().__init__(encoder, **kwargs)
    ...         self.temperature = temperature
    ...     def compute_objective(self, views, training):
    ...         a, b = (self.encoder(v, training=training) for v in views["global"][:2])
    ...         return tf.reduce_mean(tf.square(a - b)), {"embeddings": a}
    >>> spec = MethodSpec("align", Align, Paper("Align", "-", {}, "-"))
    >>> spec.reads, spec.uses_temperature, spec.takes_anchor
    (('global', 'local'), True, False)
    """

    name: str
    model_class: type
    paper: Paper
    protocol: object = None
    optimizer: dict = dataclasses.field(default_factory=dict)
    cpu_small_data: str = "fashion_mnist"
    cpu_small_settings: dict = dataclasses.field(default_factory=dict)
    encoder_input: object = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"a method's `name` must be an identifier (it names a recipe "
                             f"file), got name={self.name!r}.")
        if not inspect.isclass(self.model_class):
            raise ValueError(f"`model_class` must be a class, got {self.model_class!r}.")
        if not isinstance(self.paper, Paper):
            raise ValueError(f"`paper` of {self.name!r} must be a registry.Paper, got "
                             f"{self.paper!r}.")

    @property
    def takes_anchor(self):
        """Whether the class takes ``anchor`` (``"original"``: LeOCLR's uncropped anchor)."""
        return _constructor_takes(self.model_class, "anchor")

    @property
    def uses_temperature(self):
        """Whether the class's loss reads ``temperature`` (a constructor argument)."""
        return _constructor_takes(self.model_class, "temperature")

    @property
    def needs_labels(self):
        return bool(getattr(self.model_class, "needs_labels", False))

    @property
    def needs_indices(self):
        return bool(getattr(self.model_class, "needs_indices", False))

    @property
    def takes_num_images(self):
        """Whether the class takes ``num_images`` (state per training image: NPID's
        memory bank); the run gives it the training split's size."""
        return _constructor_takes(self.model_class, "num_images")

    @property
    def reads_local_views(self):
        return bool(getattr(self.model_class, "reads_local_views", False))

    @property
    def needs_original_view(self):
        """Whether every instance reads ``views["original"]`` (its anchor is the original)."""
        return getattr(self.model_class, "anchor", "crop") == "original"

    @property
    def reads(self):
        """The view keys training reads: ``"global"`` and, as the class declares,
        ``"local"``, ``"original"``, ``"labels"``, ``"indices"``."""
        return ("global",) + tuple(key for key, flag in (
            ("local", self.reads_local_views), ("original", self.needs_original_view),
            ("labels", self.needs_labels), ("indices", self.needs_indices)) if flag)


def register_method(spec):
    """Adds ``spec`` (a :class:`MethodSpec`) to the registry; returns it.

    A name is registered once: a second spec under the same name raises
    ``ValueError`` (``unregister_method`` first to replace one).

    Example:

    >>> from keras_contrastive.models import SimCLR
    >>> from keras_contrastive.models.registry import (
    ...     MethodSpec, Paper, method_names, register_method, unregister_method)
    >>> _ = register_method(MethodSpec("simclr_copy", SimCLR, Paper("SimCLR", "-", {}, "-")))
    >>> "simclr_copy" in method_names()
    True
    >>> unregister_method("simclr_copy")
    >>> "simclr_copy" in method_names()
    False
    """
    if not isinstance(spec, MethodSpec):
        raise ValueError(f"register_method takes a MethodSpec, got {spec!r}.")
    if spec.name in _REGISTRY:
        raise ValueError(f"a method named {spec.name!r} is already registered "
                         f"({_REGISTRY[spec.name].model_class.__name__}).")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_method(name):
    """Removes the method ``name`` from the registry (tests' clean-up).

    >>> from keras_contrastive.models.registry import unregister_method
    >>> unregister_method("no_such_method")
    Traceback (most recent call last):
    ...
    ValueError: no method named 'no_such_method' is registered.
    """
    if name not in _REGISTRY:
        raise ValueError(f"no method named {name!r} is registered.")
    del _REGISTRY[name]


def get_method(name):
    """The :class:`MethodSpec` registered as ``name``; ``ValueError`` naming the choices.

    >>> from keras_contrastive.models.registry import get_method
    >>> spec = get_method("byol")
    >>> spec.model_class.__name__, spec.paper.title, spec.optimizer["base_learning_rate"]
    ('BYOL', 'BYOL', 0.5)
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown method {name!r}; choose one of {list(method_names())}."
                         ) from None


def method_names():
    """The registered methods' names, sorted.

    >>> from keras_contrastive.models.registry import method_names
    >>> method_names()[:3]
    ('barlow_twins', 'byol', 'colorization')
    """
    return tuple(sorted(_REGISTRY))


def method_specs():
    """The registered :class:`MethodSpec` objects, sorted by name.

    >>> from keras_contrastive.models.registry import method_specs
    >>> [spec.name for spec in method_specs() if spec.reads_local_views]
    ['dino', 'knn_moco', 'moco_v1', 'moco_v2', 'swav']
    """
    return tuple(_REGISTRY[name] for name in method_names())


#: where :func:`write_manifest` writes by default: ``keras_contrastive/_method_manifest.py``
MANIFEST_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "_method_manifest.py")


def _one_line(docstring):
    """The first paragraph of ``docstring`` on one line, without reST markup."""
    paragraph = inspect.cleandoc(docstring or "").split("\n\n", 1)[0]
    return " ".join(paragraph.split()).replace("``", "")


def manifest_entries():
    """What the command line needs of each registered method, as plain data: its
    name, paper title, one-line description (its class's docstring), the views
    it reads, whether it takes ``anchor`` / ``temperature``, and its protocol
    optimizer.  ``--help`` reads them from the generated
    ``keras_contrastive/_method_manifest.py`` without importing TensorFlow.

    Example:

    >>> from keras_contrastive.models.registry import manifest_entries
    >>> entry = manifest_entries()[0]
    >>> entry["name"], entry["reads"], entry["uses_temperature"]
    ('barlow_twins', ('global',), False)
    """
    return tuple({"name": spec.name, "title": spec.paper.title,
                  "description": _one_line(spec.model_class.__doc__), "reads": spec.reads,
                  "takes_anchor": spec.takes_anchor, "uses_temperature": spec.uses_temperature,
                  "optimizer": dict(spec.optimizer)}
                 for spec in method_specs())


def manifest_source():
    """The text of ``keras_contrastive/_method_manifest.py``: :func:`manifest_entries`
    of the registered methods as a Python literal.

    >>> from keras_contrastive.models.registry import manifest_source
    >>> "'name': 'simclr'" in manifest_source()
    True
    """
    return ('"""The built-in methods as the command line sees them before TensorFlow is\n'
            'imported (``pretraining.config.known_methods``).  Generated by\n'
            '``keras_contrastive.models.registry.write_manifest()``: do not edit;\n'
            'tests/test_registry.py checks it is what the registry derives."""\n\n'
            f"METHODS = {pprint.pformat(manifest_entries(), width=99, sort_dicts=False)}\n")


def write_manifest(path=MANIFEST_PATH):
    """Writes :func:`manifest_source` to ``path`` (by default the package's
    ``_method_manifest.py``); returns ``path``.  Run it after adding a method::

        python -c "from keras_contrastive.models.registry import write_manifest; write_manifest()"

    >>> import os, tempfile
    >>> from keras_contrastive.models.registry import write_manifest
    >>> path = write_manifest(os.path.join(tempfile.mkdtemp(), "manifest.py"))
    >>> "METHODS = (" in open(path).read()
    True
    """
    with open(path, "w") as f:
        f.write(manifest_source())
    return path
