"""``keras-contrastive`` (also ``python -m keras_contrastive``): the command line.

Example::

    keras-contrastive pretrain --method simclr --dataset fashion_mnist \\
        --epochs 5 --batch-size 256 --export saved_models/simclr_fashion_mnist \\
        --save-model simclr.keras --resume /tmp/simclr_backup
    keras-contrastive pretrain --preset demo --method byol --print-config
    keras-contrastive export simclr.keras --out saved_models/simclr --export-version 2
    keras-contrastive export simclr.keras --tflite simclr.tflite
    keras-contrastive embed saved_models/simclr my_photos/ --out embeddings.npz \\
        --neighbours 5 --map map.png --grid neighbours.png --projector logs/projector
    keras-contrastive --version

Exit codes: 0 done, 2 bad arguments or inputs (before training), 3 training
stopped by a guard (NaN/Inf loss, collapsed embeddings).  Numeric flags are
checked when parsed (``--epochs 0``, ``--train-subset 0``, a learning rate
<= 0, a NaN: exit code 2 naming the flag), and a flag must be spelt in full
(``--epoch`` is refused, not taken for ``--epochs``).

``--help``, ``--version`` and ``pretrain --print-config`` import no TensorFlow:
the parser reads the methods from ``pretraining.config.known_methods`` (the
registry once ``keras_contrastive.models`` is imported, else its generated
manifest).  ``--version`` of ``pretrain`` and ``export`` is the old spelling
of ``--export-version`` (the SavedModel's version): it still works, with a
deprecation note on stderr.
"""
import argparse
import functools
import json
import os
import shutil
import sys
import textwrap

from keras_contrastive import __version__
# neither imports TensorFlow (the pretraining package loads its parts when asked)
from keras_contrastive.pretraining.config import (
    PRESET_NOTES, PRESETS, known_methods, preset_changes, resolved_settings)
from keras_contrastive.pretraining.flags import add_config_arguments, bounded

# evaluation.PROTOCOLS, spelt out so `--help` does not import TensorFlow (a test checks they agree)
EVALUATION_PROTOCOLS = ("knn", "linear", "linear_sgd", "finetune", "random_crop", "cam")

# the PretrainConfig fields each command takes as flags (pretraining.flags generates them)
_PRETRAIN_FIELDS = (
    "method", "dataset", "epochs", "batch_size", "backbone", "width", "stem", "optimizer",
    "learning_rate", "temperature", "projection_dim", "anchor", "local_crops", "local_size",
    "min_overlap", "max_iou", "stronger", "augment_on", "image_size", "train_subset",
    "eval_dataset", "eval_train_subset", "eval_test_subset", "knn_k", "seed", "deterministic",
)
_VIEWS_FIELDS = ("dataset", "image_size", "local_crops", "local_size", "min_overlap", "max_iou",
                 "stronger", "seed")
_DEFAULT_PRESET = "quality"


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the descriptions' line breaks, and ends an option's help with its
    default where the help does not say it (switches are off by default)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("default" not in text and action.option_strings
                and not any(action.default is off for off in (None, False, argparse.SUPPRESS))):
            text += " (default: %(default)s)"
        return text


class _DeprecatedVersion(argparse.Action):
    """``pretrain/export --version N``: the old spelling of ``--export-version N``."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: --version {values} is deprecated here: use --export-version "
              f"{values} (`keras-contrastive --version` prints the package's version)",
              file=sys.stderr)
        setattr(namespace, self.dest, values)


def _listing(title, rows):
    """``title`` and ``name  text`` rows, the text wrapped under itself."""
    width = max(len(name) for name in rows) + 2
    lines = [title]
    for name, text in rows.items():
        lines += textwrap.wrap(text, 96, initial_indent=f"  {name:<{width}}",
                               subsequent_indent=" " * (width + 2))
    return "\n".join(lines)


def _presets_text():
    rows = {}
    for name in PRESETS:
        changes = " ".join(f"--{field.replace('_', '-')} {value}"
                           for field, value in preset_changes(name).items())
        rows[name] = PRESET_NOTES[name] + (f"; sets {changes}" if changes else "")
    return _listing(f"presets (--preset, default {_DEFAULT_PRESET}; flags override them; "
                    "--print-config shows the result):", rows)


def _methods_text():
    return _listing("methods (--method):",
                    {method.name: method.description for method in known_methods()})


def _add_export_version(parser):
    """``--export-version N`` and its deprecated spelling ``--version N``."""
    parser.add_argument("--export-version", dest="export_version", metavar="N", default=1,
                        type=bounded(int, "--export-version", low=0),
                        help="SavedModel version, an integer >= 0: the export goes to "
                        "DIR/<N>/ (default: 1)")
    parser.add_argument("--version", dest="export_version", metavar="N",
                        type=bounded(int, "--version", low=0), action=_DeprecatedVersion,
                        default=argparse.SUPPRESS,
                        help="deprecated spelling of --export-version")


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-contrastive",
        description="Self-supervised contrastive learning of image representations.",
        allow_abbrev=False, formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print the package's version and exit")
    commands = parser.add_subparsers(dest="command", required=True)
    command = functools.partial(commands.add_parser, allow_abbrev=False,
                                formatter_class=_HelpFormatter)
    preset_text = _presets_text()
    pre = command(
        "pretrain",
        help="pretrain an encoder, evaluate it against random init, export it",
        description=textwrap.fill(
            "Pretrain an encoder without labels, then report kNN and linear-probe accuracy of "
            "the pretrained and of the randomly initialised encoder, and optionally export it "
            "as a TF Serving SavedModel.", 96) + "\n\n" + preset_text,
        epilog=_methods_text(),
    )
    pre.add_argument("--preset", choices=sorted(PRESETS), default=_DEFAULT_PRESET,
                     help="starting settings (above); flags below override them")
    pre.add_argument("--print-config", action="store_true",
                     help="print the settings the run would use (the preset, the flags and "
                     "the method's protocol optimizer resolved) and exit without training")
    # from PretrainConfig's fields; the defaults shown are the default preset's
    add_config_arguments(pre, _PRETRAIN_FIELDS, defaults=PRESETS[_DEFAULT_PRESET])
    pre.add_argument("--plot-views", metavar="PNG",
                     help="write a picture of 8 images and their views before training "
                     "(default: none)")
    pre.add_argument("--resume", metavar="DIR",
                     help="back the run up to DIR (each epoch, or every --backup-steps steps) "
                     "and, if DIR holds a backup, resume from it; kept until the run's "
                     "outputs (report, --save-model, --export) are written, then deleted "
                     "(default: no backup)")
    pre.add_argument("--backup-steps", type=bounded(int, "--backup-steps", low=1), metavar="N",
                     help="with --resume: back up every N steps (default: every epoch)")
    pre.add_argument("--export", metavar="DIR",
                     help="write the encoder to DIR/<version>/ (TF Serving layout; default: "
                     "no export)")
    _add_export_version(pre)
    pre.add_argument("--overwrite", action="store_true", help="replace an existing export")
    pre.add_argument("--save-model", metavar="FILE.keras",
                     help="save the whole trained model (heads, queues, targets) for "
                     "`keras-contrastive export` or further training (default: not saved)")
    pre.add_argument("--logdir", metavar="DIR",
                     help="TensorBoard logs: loss, representation health, kNN accuracy per "
                     "epoch, an image summary of the views (default: none)")
    pre.add_argument("--json", action="store_true", help="print the summary as JSON too")

    exp = command(
        "export",
        help="export the encoder of a saved .keras model as a TF Serving SavedModel or a "
        ".tflite file",
        description="Write the encoder of a model saved with `pretrain --save-model` (or "
        "model.save) to DIR/<version>/ with the serving_default, serve_uint8 and serve_bytes "
        "signatures and metadata.json (--out), and/or as a TensorFlow Lite (LiteRT) file "
        "(--tflite).  A DualEncoder (CLIP) exports both towers (export_dual_encoder: "
        "serve_text too, the vocabulary in metadata.json).",
    )
    exp.add_argument("model", metavar="MODEL.keras", help="a model saved by Keras")
    exp.add_argument("--out", metavar="DIR",
                     help="base directory of the servable (give --out, --tflite or both; default: "
                     "none)")
    exp.add_argument("--tflite", metavar="FILE.tflite",
                     help="also (or only) a TensorFlow Lite / LiteRT file of the encoder: float32 "
                     "images in [0, 1] at the model's size in, embeddings out (default: none)")
    _add_export_version(exp)
    exp.add_argument("--overwrite", action="store_true",
                     help="replace an existing version or .tflite file")
    exp.add_argument("--include-projection", action="store_true",
                     help="also output the projection head's vector as 'projection'")
    exp.add_argument("--training-data",
                     help="recorded in metadata.json (default: not recorded)")

    ev = command(
        "evaluate",
        help="kNN, linear-probe, fine-tuning, random-crop and CAM evaluation of a saved encoder",
        description="Evaluate an encoder (an export directory, or a .keras model's encoder) on a "
        "labelled data set: weighted kNN (top-1, top-5), the L-BFGS linear probe, the SGD linear "
        "probe (crop + flip views), fine-tuning on a label fraction, the random-crop test of the "
        "L-BFGS probe, and class activation maps of that probe (a PNG; needs a .keras model).",
    )
    ev.add_argument("encoder", metavar="EXPORT_DIR|MODEL.keras")
    ev.add_argument("--dataset",
                    help="fashion_mnist, a labelled image folder (class sub-folders), or a TFDS "
                    "name (default: the data set the encoder's metadata names: its run's "
                    "--eval-dataset, else its --dataset; else fashion_mnist)")
    ev.add_argument("--protocols", default="knn,linear",
                    help="comma-separated: " + ", ".join(EVALUATION_PROTOCOLS)
                    + " (default knn,linear)")
    ev.add_argument("--label-fraction", type=bounded(float, "--label-fraction", 0, 1, True),
                    default=0.1,
                    help="finetune: share of the training labels (default 0.1)")
    ev.add_argument("--epochs", type=bounded(int, "--epochs", low=1), default=10,
                    help="linear_sgd and finetune: training epochs (default 10)")
    ev.add_argument("--cam-out", metavar="PNG", default="class_activation_maps.png",
                    help="cam: the picture of 16 test images and their maps")
    ev.add_argument("--train-subset", type=bounded(int, "--train-subset", low=1),
                    help="labelled train images (default: all)")
    ev.add_argument("--test-subset", type=bounded(int, "--test-subset", low=1),
                    help="test images (default: all)")
    ev.add_argument("--knn-k", type=bounded(int, "--knn-k", low=1), default=200,
                    help="knn: neighbours")
    ev.add_argument("--seed", type=bounded(int, "--seed", low=0), default=0,
                    help="seed of the probes and of fine-tuning")
    ev.add_argument("--json", action="store_true", help="print the figures as JSON too")

    em = command(
        "embed",
        help="embed a folder of images (or a TFDS split) with an export: file, neighbours, "
        "pictures",
        description=textwrap.fill(
            "Embed every image of a folder (class sub-folders give labels; without them, none) "
            "or of a TFDS or named data set through the export's own serving preprocessing "
            "(serve_bytes for files, serve_uint8 for arrays; a .keras model is exported "
            "first), and write file names (or indices), labels, class names and the embeddings "
            "(not L2-normalised) to --out.  Unreadable files are skipped with a warning.", 96),
    )
    em.add_argument("model", metavar="EXPORT_DIR|MODEL.keras")
    em.add_argument("data", metavar="FOLDER|DATASET", help="an image folder, fashion_mnist, or "
                    "a TFDS name prepared in TFDS_DATA_DIR")
    em.add_argument("--out", required=True, metavar="FILE",
                    help=".npz, .csv, or .parquet (needs pyarrow)")
    em.add_argument("--split", help="a data set's split (default: train), or a folder's "
                    "sub-folder (default: the whole folder)")
    em.add_argument("--limit", type=bounded(int, "--limit", low=1), metavar="N",
                    help="TFDS and named data sets: the first N images (default: all)")
    em.add_argument("--batch-size", type=bounded(int, "--batch-size", low=1), default=64,
                    metavar="N", help="images per call of the encoder")
    em.add_argument("--neighbours", type=bounded(int, "--neighbours", low=1), metavar="K",
                    help="also write each image's K nearest neighbours by cosine similarity "
                    "(exact; faiss-cpu from 20000 images when installed) (default: none)")
    em.add_argument("--map", metavar="PNG", help="a 2-D map of the embeddings coloured by "
                    "label (UMAP with umap-learn installed, else PCA) (default: none)")
    em.add_argument("--grid", metavar="PNG", help="a nearest-neighbour grid: query images in "
                    "the first column, their --neighbours K (else 5) to the right (default: none)")
    em.add_argument("--grid-queries", type=bounded(int, "--grid-queries", low=1), default=8,
                    metavar="N", help="rows of --grid")
    em.add_argument("--projector", metavar="LOGDIR", help="TensorBoard projector files "
                    "(embeddings, labels, sprite; `tensorboard --logdir LOGDIR`) (default: none)")

    vw = command(
        "views", help="write a picture of images and their views",
        description="Draw 8 test images and the views a pretraining run would make of them\n"
        "(the same flags as pretrain).\n\n" + preset_text)
    vw.add_argument("--out", required=True, metavar="PNG", help="the picture to write")
    vw.add_argument("--preset", choices=sorted(PRESETS), default=_DEFAULT_PRESET,
                    help="starting settings (above); flags below override them")
    add_config_arguments(vw, _VIEWS_FIELDS, defaults=PRESETS[_DEFAULT_PRESET])
    return parser


def _pretrain_config(args):
    """The run's ``PretrainConfig``: the preset, with the flags given over it."""
    return PRESETS[args.preset].replace_given(
        **{field: getattr(args, field) for field in _PRETRAIN_FIELDS})


def _print_config(args):
    """``pretrain --print-config``: the resolved settings, one per line (or JSON)."""
    settings = resolved_settings(_pretrain_config(args))
    if args.json:
        print(json.dumps(settings))
    else:
        print(f"# --preset {args.preset} with the flags given")
        for name, value in settings.items():
            print(f"{name:<24}{value}")
    return 0


def _check_export_path(path, version, overwrite):
    """``export.check_export_path`` with its refusal in the command's words (flags,
    not arguments)."""
    from keras_contrastive.export import check_export_path

    try:
        check_export_path(path, version, overwrite)
    except FileExistsError:
        raise FileExistsError(
            f"{os.path.join(path, str(int(version)))} already exists; pass --overwrite to "
            "replace it or --export-version N to write another version.") from None


def _pretrain(args):
    from keras_contrastive.pretraining import (
        export_pretrained, format_report, pretrain, save_model)

    config = _pretrain_config(args)
    if args.export:
        _check_export_path(args.export, args.export_version, args.overwrite)  # before training
    if args.save_model and not args.save_model.endswith(".keras"):
        raise ValueError(f"--save-model must name a .keras file; got {args.save_model!r}.")
    if args.plot_views:
        _plot_views(config, args.plot_views)
    from keras_contrastive.callbacks import BackupAndRestore, CollapseMonitor, NaNGuard

    if args.backup_steps is not None and not args.resume:
        raise ValueError(f"--backup-steps needs --resume; got --backup-steps {args.backup_steps} "
                         "without it.")
    # guards on by default: stop at a NaN/Inf loss, warn on collapsed embeddings
    callbacks = [NaNGuard(), CollapseMonitor(threshold=0.01, patience=50)]
    if args.resume:  # first, so a step's backup is written before a guard stops the run
        # kept (with the finished state) until every output is written: a failure or kill
        # in the evaluation, --save-model or --export resumes with no step left to train
        callbacks.insert(0, BackupAndRestore(args.resume, save_freq=args.backup_steps or "epoch",
                                             delete_checkpoint=False))
    result = pretrain(config, callbacks=callbacks, logdir=args.logdir)
    m = result.metrics
    print()
    print(format_report(config, result))
    if args.save_model:  # with the run's config, figures and data set inside
        save_model(config, result, args.save_model)
        print(f"model saved to {args.save_model}")
    if args.export:
        path = export_pretrained(config, result, args.export, version=args.export_version,
                                 overwrite=args.overwrite)
        print(f"encoder exported to {path} (signatures serving_default, serve_uint8, "
              "serve_bytes)")
    if args.json:
        print(json.dumps({"method": config.method, "epochs": config.epochs,
                          "pairs_per_s": result.pairs_per_s, **m}))
    if args.resume:
        shutil.rmtree(args.resume, ignore_errors=True)  # every output is written
    return 0


def _load_model(path):
    """``keras.models.load_model(path)`` with the library's classes registered (the
    parser imports no model, so that ``--help`` needs no TensorFlow)."""
    import keras

    import keras_contrastive.models  # noqa: F401  (registers the methods' classes)

    return keras.models.load_model(path)


def _export(args):
    from keras_contrastive.export import SERVED_SIGNATURES, export_model, export_tflite

    if not args.out and not args.tflite:
        raise ValueError("give --out DIR (a TF Serving SavedModel), --tflite FILE.tflite, "
                         "or both.")
    if args.out:
        _check_export_path(args.out, args.export_version, args.overwrite)
    if args.tflite and os.path.exists(args.tflite) and not args.overwrite:
        raise FileExistsError(f"{args.tflite} already exists; pass --overwrite to replace it.")
    from keras_contrastive.pretraining import read_run_record

    model = _load_model(args.model)
    # the run's config, figures and data set, saved in the file by `pretrain --save-model`
    metadata = read_run_record(args.model) or {}
    if metadata:
        print(f"metadata.json keeps the run's config, figures and data set "
              f"({metadata.get('dataset')!r}) saved in {args.model}")
    if args.training_data:
        metadata["training_data"] = args.training_data
    if args.out:  # a DualEncoder's two towers, any other method's encoder
        path, what = export_model(model, args.out, version=args.export_version,
                                  overwrite=args.overwrite,
                                  include_projection=args.include_projection,
                                  metadata=metadata or None)
        print(f"{what} of {type(model).__name__} exported to {path} "
              f"(signatures {', '.join(SERVED_SIGNATURES[what])})")
    if args.tflite:
        export_tflite(model, args.tflite, overwrite=args.overwrite)
        print(f"encoder of {type(model).__name__} written to {args.tflite} (TensorFlow Lite: "
              "float32 images in [0, 1] in, embeddings out)")
    return 0


def _load_encoder(path):
    from keras_contrastive.export import load_encoder

    if os.path.isfile(path) and path.endswith(".keras"):
        model = _load_model(path)
        # a saved method's representation (CPC: the grid mean), or a saved encoder
        extractor = getattr(model, "feature_extractor", None)
        return extractor() if callable(extractor) else model
    return load_encoder(path)


def _recorded_dataset(encoder_path):
    """``evaluate`` without ``--dataset``: the data set an export's ``metadata.json``
    (or a ``.keras`` file's run record) names, said in one line."""
    from keras_contrastive.export import read_metadata
    from keras_contrastive.pretraining import read_run_record

    if os.path.isfile(encoder_path):
        record, where = read_run_record(encoder_path) or {}, encoder_path
    else:
        try:
            record, where = read_metadata(encoder_path), "its metadata.json"
        except (FileNotFoundError, ValueError):
            record, where = {}, "its metadata.json"
    # an older export records only training_data, "name[:subset]"
    dataset = (record.get("eval_dataset") or record.get("dataset")
               or (record.get("training_data") or "").split("[:")[0] or None)
    if not dataset:
        print(f"--dataset not given and {encoder_path} records no data set ({where}): "
              "evaluating on 'fashion_mnist', the default")
        return "fashion_mnist"
    print(f"--dataset not given: evaluating on {dataset!r}, the data set {where} names")
    return dataset


def _evaluate(args):
    from keras_contrastive.evaluation import evaluate_encoder
    from keras_contrastive.pretraining import open_training_splits
    from keras_contrastive.pretraining.run import warn_without_test_folder

    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    unknown = sorted(set(protocols) - set(EVALUATION_PROTOCOLS))
    if unknown or not protocols:
        raise ValueError(f"--protocols takes {', '.join(EVALUATION_PROTOCOLS)}; got "
                         f"{args.protocols!r}.")
    dataset = args.dataset or _recorded_dataset(args.encoder)
    encoder = _load_encoder(args.encoder)
    size = tuple(encoder.input_shape[1:3]) if None not in encoder.input_shape[1:3] else None
    # only the subsets are read (a folder or a TFDS split may not fit in memory)
    try:
        train, test = open_training_splits(dataset, image_size=size)
    except ValueError as error:
        if args.dataset:
            raise
        # exports before 2026-12-06 recorded a folder as typed, relative to where it trained
        raise ValueError(f"{error} ({dataset!r} is the data set {args.encoder} records; if "
                         "it is a folder given relative to where the run trained, pass "
                         "--dataset with its path.)") from error
    train.require_labels("evaluate", "--dataset")
    warn_without_test_folder(train, test, print)
    train, test = train.arrays(args.train_subset), test.arrays(args.test_subset)
    figures = evaluate_encoder(encoder, train, test, protocols, knn_k=args.knn_k, seed=args.seed,
                               label_fraction=args.label_fraction, epochs=args.epochs,
                               cam_path=args.cam_out, log=print)
    print(f"{args.encoder} on {dataset}: {len(train[1])} train / {len(test[1])} "
          "test images")
    for name, value in figures.items():
        print(f"{name:<18}{value:>8.4f}")
    if args.json:
        print(json.dumps(figures))
    return 0


def _embed(args):
    from keras_contrastive import embed, embedding_plots

    thumbnails = 48 if args.grid or args.projector else None
    result = embed.embed(args.model, args.data, split=args.split, limit=args.limit,
                         batch_size=args.batch_size, thumbnail_size=thumbnails, progress=True)
    count = len(result.names)
    labelled = "unlabelled" if result.labels is None else f"{len(result.class_names)} classes"
    print(f"embedded {count} images of {args.data} ({labelled}; {len(result.skipped)} "
          f"skipped): {result.embeddings.shape[1]} dimensions")
    if args.neighbours:
        method = result.add_neighbours(min(args.neighbours, count - 1))
        print(f"{result.neighbours.shape[1]} nearest neighbours of each image ({method}, "
              "cosine)")
    embed.save_embeddings(result, args.out)
    print(f"embeddings written to {args.out}")
    if args.map:
        method = embedding_plots.plot_map(result, args.map)
        print(f"map of the embeddings ({method}) written to {args.map}")
    if args.grid:
        k = min(args.neighbours or 5, count - 1)
        embedding_plots.plot_neighbour_grid(result, args.grid, args.grid_queries, k)
        print(f"nearest-neighbour grid written to {args.grid}")
    if args.projector:
        embedding_plots.write_projector(result, args.projector)
        print(f"projector files written to {args.projector} (tensorboard --logdir "
              f"{args.projector})")
    return 0


def _views(args):
    config = PRESETS[args.preset].replace_given(**{f: getattr(args, f) for f in _VIEWS_FIELDS})
    _plot_views(config, args.out)
    return 0


def _plot_views(config, path):
    from keras_contrastive.pretraining import build_augment, open_split
    from keras_contrastive.views import plot_views

    images = open_split(config.dataset, "test", config.image_size).arrays(8)[0]
    size = config.image_size or images.shape[1]
    plot_views(images, build_augment(config, size, images.shape[-1]), n=8, path=path)
    print(f"views of 8 test images written to {path}")


def _check_before_tensorflow(args):
    """The refusals that need no TensorFlow, made before it is imported (that takes
    6-10 s on 2 cores): a model or export that is not there, an unknown output
    format.  The commands check the rest."""
    from keras_contrastive import embed

    if args.command == "export" and not os.path.isfile(args.model):
        raise FileNotFoundError(f"no saved model at {args.model!r}.")
    if args.command == "evaluate" and not os.path.exists(args.encoder):
        raise FileNotFoundError(f"no export or .keras model at {args.encoder!r}.")
    if args.command == "embed":
        if os.path.splitext(args.out)[1].lower() not in embed._FORMATS:
            raise ValueError(f"--out must end in {', '.join(embed._FORMATS)}; got {args.out!r}.")
        if not os.path.exists(args.model):
            raise FileNotFoundError(f"no export or .keras model at {args.model!r}.")


def _refused(args, error):
    print(f"keras-contrastive {args.command}: error: {error}", file=sys.stderr)
    return 2


def run(argv=None):
    """Entry point of the ``keras-contrastive`` command."""
    args = _parser().parse_args(argv)
    if getattr(args, "print_config", False):  # no TensorFlow
        try:
            return _print_config(args)
        except ValueError as error:
            return _refused(args, error)
    try:
        _check_before_tensorflow(args)
    except (ValueError, FileNotFoundError) as error:
        return _refused(args, error)
    import keras

    keras.config.enable_interactive_logging()  # progress bars on stdout, not absl
    from keras_contrastive.callbacks import CollapseError, NonFiniteLossError

    try:
        return {"pretrain": _pretrain, "export": _export, "evaluate": _evaluate,
                "embed": _embed, "views": _views}[args.command](args)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError) as error:
        return _refused(args, error)
    except (NonFiniteLossError, CollapseError) as error:
        print(f"keras-contrastive {args.command}: training stopped: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(run())
