"""Command-line flags generated from ``PretrainConfig``'s fields, once.

A flag's type and default come from the field, its help from the field's entry
in ``PretrainConfig``'s docstring, its choices from the field's metadata; the
methods a field applies to (``anchor``, ``local_crops``, ``temperature``) are
read from ``config.known_methods()`` (the method registry, or its generated
manifest: no TensorFlow is imported to build a parser).  The CLI (argparse,
``--batch-size``) and the recipes (absl, ``--batch_size``) both declare their
config flags here.

Example:

>>> from keras_contrastive.pretraining.flags import config_flag
>>> flag = config_flag("anchor")
>>> flag.type.__name__, flag.default, flag.choices
('str', 'crop', ('crop', 'original'))
>>> flag.help.endswith("(methods: byol, simclr).")
True
"""
import argparse
import dataclasses
import inspect
import re

from keras_contrastive._checks import check_number
from keras_contrastive.pretraining.config import PretrainConfig, known_methods

_FIELDS = {field.name: field for field in dataclasses.fields(PretrainConfig)}
# inferred types of fields whose default is None
_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def _docstring_help():
    """``{field: help}`` from the ``Attributes:`` section of ``PretrainConfig``'s docstring."""
    doc = inspect.cleandoc(PretrainConfig.__doc__)
    section = doc.split("Attributes:", 1)[1].split("\n\n", 1)[0]
    helps, name = {}, None
    for line in section.splitlines():
        match = re.match(r"    (\w+): (.*)", line)
        if match:
            name = match.group(1)
            helps[name] = match.group(2).strip()
        elif name and line.strip():
            helps[name] += " " + line.strip()
    return {name: text.replace("``", "") for name, text in helps.items()}


@dataclasses.dataclass(frozen=True)
class ConfigFlag:
    """One ``PretrainConfig`` field as a command-line flag.

    Attributes:
        name: the field's name (``batch_size``).
        type: ``int``, ``float``, ``str`` or ``bool``.
        default: the field's default in ``PretrainConfig``.
        help: the field's docstring entry (and the methods it applies to).
        choices: the allowed values, or ``None``.
        bounds: the range of the value (``_checks.check_number``'s ``low``,
            ``high``, ``low_open``), or ``None``.
        prefixes: the starts of values allowed beside ``choices``
            (``backbone``: ``keras_hub:``).

    Example:

    >>> from keras_contrastive.pretraining.flags import config_flag
    >>> config_flag("batch_size")
    ConfigFlag(name='batch_size', type=<class 'int'>, default=256, help='global batch (pairs of views per step).', choices=None, bounds={'low': 1}, prefixes=())
    """

    name: str
    type: type
    default: object
    help: str
    choices: tuple = None
    bounds: dict = None
    prefixes: tuple = ()


def config_flag(name):
    """The :class:`ConfigFlag` of ``PretrainConfig`` field ``name``.

    >>> from keras_contrastive.pretraining.flags import config_flag
    >>> "moco_v2" in config_flag("method").choices
    True
    """
    if name not in _FIELDS:
        raise ValueError(f"PretrainConfig has no field {name!r}.")
    field = _FIELDS[name]
    type_ = field.type if isinstance(field.type, type) else _TYPES[str(field.type)]
    if type_ not in _TYPES.values():
        raise ValueError(f"field {name!r} of type {type_.__name__} has no flag.")
    choices = field.metadata.get("choices")
    if callable(choices):
        choices = tuple(choices())
    text = _docstring_help().get(name, "")
    if "methods" in field.metadata:
        names = [method.name for method in known_methods() if field.metadata["methods"](method)]
        text = text.rstrip(".") + f" (methods: {', '.join(names)})."
    default = None if field.default is dataclasses.MISSING else field.default
    return ConfigFlag(name, type_, default, text, choices, field.metadata.get("bounds"),
                      tuple(field.metadata.get("prefixes", ())))


def bounded(type_, option, low=None, high=None, low_open=False):
    """An ``argparse`` ``type`` that parses ``type_`` (``int`` or ``float``) and
    refuses, naming ``option``, a value outside the bounds or not finite: the
    parser then exits with code 2 before anything runs.

    >>> import argparse
    >>> from keras_contrastive.pretraining.flags import bounded
    >>> parser = argparse.ArgumentParser(exit_on_error=False)
    >>> _ = parser.add_argument("--epochs", type=bounded(int, "--epochs", low=1))
    >>> parser.parse_args(["--epochs", "0"])
    Traceback (most recent call last):
    ...
    argparse.ArgumentError: argument --epochs: --epochs must be an integer >= 1, got 0
    """
    bounds = {"low": low, "high": high, "low_open": low_open}

    def parse(text):
        value = type_(text)  # a ValueError: argparse's "invalid int value: 'x'"
        problem = _out_of_range(option, value, type_, bounds)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = type_.__name__
    return parse


def add_config_arguments(parser, names, defaults=None):
    """Adds ``--field-name`` options for the ``PretrainConfig`` fields ``names`` to an
    ``argparse`` parser, with default ``None`` (unset flags keep the preset's value:
    ``config.replace_given(**vars(args))``).  With ``defaults`` (a ``PretrainConfig``,
    the default preset) each help ends with that preset's value, unless the
    field's own help already says what its default is.

    >>> import argparse
    >>> from keras_contrastive.pretraining import PRESETS
    >>> from keras_contrastive.pretraining.flags import add_config_arguments
    >>> parser = argparse.ArgumentParser()
    >>> add_config_arguments(parser, ["batch_size", "stronger"], defaults=PRESETS["quality"])
    >>> vars(parser.parse_args(["--batch-size", "64", "--stronger"]))
    {'batch_size': 64, 'stronger': True}
    >>> "views per step). (default: 256)" in " ".join(parser.format_help().split())
    True
    """
    for name in names:
        flag = config_flag(name)
        option = "--" + name.replace("_", "-")
        text = flag.help
        if defaults is not None and "default" not in text:
            text += f" (default: {_shown(getattr(defaults, name))})"
        text = text.replace("%", "%%")  # argparse formats help with %
        parse = _FIELDS[name].metadata.get("parse")
        if flag.type is bool:
            parser.add_argument(option, action="store_const", const=True, help=text)
        elif parse:  # --image-size 32 or 24,32: refused in the flag's words
            parser.add_argument(option, type=_parsed(option, parse), help=text,
                                metavar=option[2:].upper().replace("-", "_"))
        elif flag.prefixes:
            parser.add_argument(option, type=_choice_or_prefix(option, flag), help=text,
                                metavar="{" + ",".join(flag.choices + tuple(
                                    p + "..." for p in flag.prefixes)) + "}")
        else:
            type_ = bounded(flag.type, option, **flag.bounds) if flag.bounds else flag.type
            parser.add_argument(option, type=type_, choices=flag.choices, help=text)


def _shown(value):
    """A default as ``--help`` shows it: ``off`` for ``False``, ``0.2,1.0`` for a tuple."""
    if value is False:
        return "off"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return value


def _parsed(option, parse):
    """An ``argparse`` ``type``: ``parse(text, option)``, a refusal naming ``option``."""

    def parsed(text):
        try:
            return parse(text, option)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parsed.__name__ = "value"
    return parsed


def _choice_or_prefix(option, flag):
    """An ``argparse`` ``type``: one of ``flag.choices`` or a value starting with one
    of ``flag.prefixes`` followed by something."""

    def parse(text):
        if text in flag.choices or any(text.startswith(p) and len(text) > len(p)
                                       for p in flag.prefixes):
            return text
        allowed = ", ".join(flag.choices + tuple(p + "NAME" for p in flag.prefixes))
        raise argparse.ArgumentTypeError(f"{option} takes {allowed}; got {text!r}")

    parse.__name__ = "str"
    return parse


def define_config_flags(names, flag_values, defaults=None, note=""):
    """Defines absl flags ``--field_name`` for the ``PretrainConfig`` fields ``names``
    in ``flag_values``; their defaults are ``defaults``' fields (a ``PretrainConfig``)
    or ``None`` (unset: the preset's), and ``note`` ends their help.

    >>> from absl import flags
    >>> from keras_contrastive.pretraining import PRESETS
    >>> from keras_contrastive.pretraining.flags import define_config_flags
    >>> values = flags.FlagValues()
    >>> define_config_flags(["epochs", "stem", "image_size"], values, defaults=PRESETS["quality"])
    >>> values["epochs"].default, values["stem"].default
    (5, 'cifar')
    >>> _ = values(["recipe", "--image_size", "24,32"])
    >>> values.image_size, values["image_size"].serialize()
    ((24, 32), '--image_size=24,32')
    """
    from absl import flags

    define = {int: flags.DEFINE_integer, float: flags.DEFINE_float, str: flags.DEFINE_string,
              bool: flags.DEFINE_bool}
    for name in names:
        flag = config_flag(name)
        default = getattr(defaults, name) if defaults is not None else None
        text = flag.help + note
        parse = _FIELDS[name].metadata.get("parse")
        if parse:  # --image_size 32 or 24,32, as the CLI's --image-size
            flags.DEFINE(_AbslParser(parse, "--" + name), name, default, text,
                         flag_values=flag_values, serializer=_ListSerializer())
        elif flag.choices and flag.type is str and not flag.prefixes:
            flags.DEFINE_enum(name, default, list(flag.choices), text, flag_values=flag_values)
        else:
            define[flag.type](name, default, text, flag_values=flag_values)
        if flag.bounds:
            flags.register_validator(name, _validator(flag), flag_values=flag_values)


def _AbslParser(parse, option):
    """An absl ``ArgumentParser`` of a field's own ``parse(text, option)`` (a
    ``ValueError`` naming ``option`` is absl's refusal of the value)."""
    from absl import flags

    class Parser(flags.ArgumentParser):
        def parse(self, argument):
            return parse(argument, option)

        def flag_type(self):
            return "value"

    return Parser()


def _ListSerializer():
    """Writes ``(24, 32)`` as ``24,32`` (a flag file's value reads back)."""
    from absl import flags

    class Serializer(flags.ArgumentSerializer):
        def serialize(self, value):
            return ",".join(str(n) for n in value) if isinstance(value, tuple) else str(value)

    return Serializer()


def _validator(flag):
    """An absl flag validator: True when unset or within ``flag.bounds``, else
    ``flags.ValidationError`` naming the flag."""
    from absl import flags

    def valid(value):
        problem = None if value is None else _out_of_range(
            "--" + flag.name, value, flag.type, flag.bounds)
        if problem:
            raise flags.ValidationError(problem)
        return True

    return valid


def _out_of_range(option, value, type_, bounds):
    """``None`` if ``value`` is a finite ``type_`` within ``bounds``, else the
    problem in the flag's words: ``"--epochs must be an integer >= 1, got 0"``."""
    try:
        check_number(option, value, integer=type_ is int, **bounds)
    except ValueError as error:
        reason = str(error).split(" must be ", 1)[1].rsplit(", got ", 1)[0]
        return f"{option} must be {reason}, got {value}"
    return None
