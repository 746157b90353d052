"""``keras-contrastive`` (also ``python -m keras_contrastive``): the command line.

Example::

    keras-contrastive pretrain --method simclr --dataset fashion_mnist \\
        --epochs 5 --batch-size 256 --export saved_models/simclr_fashion_mnist \\
        --save-model simclr.keras --resume /tmp/simclr_backup
    keras-contrastive export simclr.keras --out saved_models/simclr --version 2

Exit codes: 0 done, 2 bad arguments or inputs (before training), 3 training
stopped by a guard (NaN/Inf loss, collapsed embeddings).
"""
import argparse
import json
import os
import sys

# TensorFlow's C++ INFO/WARNING lines (grappler cost-model notes on every
# traced augmentation) drown the progress bars; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# evaluation.PROTOCOLS, spelt out so `--help` does not import TensorFlow (a test checks they agree)
EVALUATION_PROTOCOLS = ("knn", "linear", "linear_sgd", "finetune", "random_crop", "cam")

# the PretrainConfig fields each command takes as flags (pretraining.flags generates them)
_PRETRAIN_FIELDS = (
    "method", "dataset", "epochs", "batch_size", "width", "stem", "optimizer", "learning_rate",
    "temperature", "projection_dim", "anchor", "local_crops", "local_size", "min_overlap",
    "max_iou", "stronger", "augment_on", "image_size", "train_subset", "eval_train_subset",
    "eval_test_subset", "seed", "deterministic",
)
_VIEWS_FIELDS = ("dataset", "image_size", "local_crops", "local_size", "min_overlap", "max_iou",
                 "stronger", "seed")


def _parser():
    from keras_contrastive.pretraining import PRESETS
    from keras_contrastive.pretraining.flags import add_config_arguments

    parser = argparse.ArgumentParser(
        prog="keras-contrastive",
        description="Self-supervised contrastive learning of image representations.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    pre = commands.add_parser(
        "pretrain",
        help="pretrain an encoder, evaluate it against random init, export it",
        description="Pretrain an encoder without labels, then report kNN and "
        "linear-probe accuracy of the pretrained and of the randomly initialised "
        "encoder, and optionally export it as a TF Serving SavedModel.",
    )
    pre.add_argument("--preset", choices=sorted(PRESETS), default="quality",
                     help="starting settings; flags below override them (default: quality)")
    add_config_arguments(pre, _PRETRAIN_FIELDS)  # from PretrainConfig's fields
    pre.add_argument("--plot-views", metavar="PNG",
                     help="write a picture of 8 images and their views before training")
    pre.add_argument("--resume", metavar="DIR",
                     help="back the run up to DIR (each epoch, or every --backup-steps steps) "
                     "and, if DIR holds a backup, resume from it; deleted when training ends")
    pre.add_argument("--backup-steps", type=int, metavar="N",
                     help="with --resume: back up every N steps instead of every epoch")
    pre.add_argument("--export", metavar="DIR",
                     help="write the encoder to DIR/<version>/ (TF Serving layout)")
    pre.add_argument("--version", type=int, default=1, help="SavedModel version (default 1)")
    pre.add_argument("--overwrite", action="store_true", help="replace an existing export")
    pre.add_argument("--save-model", metavar="FILE.keras",
                     help="save the whole trained model (heads, queues, targets) for "
                     "`keras-contrastive export` or further training")
    pre.add_argument("--logdir", metavar="DIR",
                     help="TensorBoard logs: loss, representation health, kNN accuracy per "
                     "epoch, an image summary of the views")
    pre.add_argument("--json", action="store_true", help="print the summary as JSON too")

    exp = commands.add_parser(
        "export",
        help="export the encoder of a saved .keras model as a TF Serving SavedModel",
        description="Write the encoder of a model saved with `pretrain --save-model` (or "
        "model.save) to DIR/<version>/ with the serving_default, serve_uint8 and serve_bytes "
        "signatures and metadata.json.",
    )
    exp.add_argument("model", metavar="MODEL.keras", help="a model saved by Keras")
    exp.add_argument("--out", required=True, metavar="DIR", help="base directory of the servable")
    exp.add_argument("--version", type=int, default=1, help="SavedModel version (default 1)")
    exp.add_argument("--overwrite", action="store_true", help="replace an existing version")
    exp.add_argument("--include-projection", action="store_true",
                     help="also output the projection head's vector as 'projection'")
    exp.add_argument("--training-data", help="recorded in metadata.json")

    ev = commands.add_parser(
        "evaluate",
        help="kNN, linear-probe, fine-tuning, random-crop and CAM evaluation of a saved encoder",
        description="Evaluate an encoder (an export directory, or a .keras model's encoder) on a "
        "labelled data set: weighted kNN (top-1, top-5), the L-BFGS linear probe, the SGD linear "
        "probe (crop + flip views), fine-tuning on a label fraction, the random-crop test of the "
        "L-BFGS probe, and class activation maps of that probe (a PNG; needs a .keras model).",
    )
    ev.add_argument("encoder", metavar="EXPORT_DIR|MODEL.keras")
    ev.add_argument("--dataset", default="fashion_mnist",
                    help="fashion_mnist, an image folder, or a TFDS name")
    ev.add_argument("--protocols", default="knn,linear",
                    help="comma-separated: " + ", ".join(EVALUATION_PROTOCOLS)
                    + " (default knn,linear)")
    ev.add_argument("--label-fraction", type=float, default=0.1,
                    help="finetune: share of the training labels (default 0.1)")
    ev.add_argument("--epochs", type=int, default=10,
                    help="linear_sgd and finetune: training epochs (default 10)")
    ev.add_argument("--cam-out", metavar="PNG", default="class_activation_maps.png",
                    help="cam: the picture of 16 test images and their maps")
    ev.add_argument("--train-subset", type=int, help="labelled train images (default: all)")
    ev.add_argument("--test-subset", type=int, help="test images (default: all)")
    ev.add_argument("--knn-k", type=int, default=200)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--json", action="store_true", help="print the figures as JSON too")

    vw = commands.add_parser(
        "views", help="write a picture of images and their views",
        description="Draw 8 test images and the views a pretraining run would make of them "
        "(the same flags as pretrain).")
    vw.add_argument("--out", required=True, metavar="PNG", help="the picture to write")
    vw.add_argument("--preset", choices=sorted(PRESETS), default="quality")
    add_config_arguments(vw, _VIEWS_FIELDS)
    return parser


def _pretrain(args):
    from keras_contrastive.export import check_export_path
    from keras_contrastive.pretraining import PRESETS, export_pretrained, format_report, pretrain

    config = PRESETS[args.preset].replace_given(
        **{field: getattr(args, field) for field in _PRETRAIN_FIELDS})
    if args.export:
        check_export_path(args.export, args.version, args.overwrite)  # fail before training
    if args.save_model and not args.save_model.endswith(".keras"):
        raise ValueError(f"--save-model must name a .keras file; got {args.save_model!r}.")
    if args.plot_views:
        _plot_views(config, args.plot_views)
    from keras_contrastive.callbacks import BackupAndRestore, CollapseMonitor, NaNGuard

    if args.backup_steps is not None and (args.backup_steps < 1 or not args.resume):
        raise ValueError(f"--backup-steps must be a positive number of steps and needs --resume; "
                         f"got --backup-steps {args.backup_steps}.")
    # guards on by default: stop at a NaN/Inf loss, warn on collapsed embeddings
    callbacks = [NaNGuard(), CollapseMonitor(threshold=0.01, patience=50)]
    if args.resume:  # first, so a step's backup is written before a guard stops the run
        callbacks.insert(0, BackupAndRestore(args.resume, save_freq=args.backup_steps or "epoch"))
    result = pretrain(config, callbacks=callbacks, logdir=args.logdir)
    m = result.metrics
    print()
    print(format_report(config, result))
    if args.save_model:
        result.model.save(args.save_model)
        print(f"model saved to {args.save_model}")
    if args.export:
        path = export_pretrained(config, result, args.export, version=args.version,
                                 overwrite=args.overwrite)
        print(f"encoder exported to {path} (signatures serving_default, serve_uint8, "
              "serve_bytes)")
    if args.json:
        print(json.dumps({"method": config.method, "epochs": config.epochs,
                          "pairs_per_s": result.pairs_per_s, **m}))
    return 0


def _export(args):
    import keras

    from keras_contrastive.export import check_export_path, export_encoder

    check_export_path(args.out, args.version, args.overwrite)
    if not os.path.isfile(args.model):
        raise FileNotFoundError(f"no saved model at {args.model!r}.")
    model = keras.models.load_model(args.model)
    metadata = {"training_data": args.training_data} if args.training_data else None
    path = export_encoder(model, args.out, version=args.version, overwrite=args.overwrite,
                          include_projection=args.include_projection, metadata=metadata)
    print(f"encoder of {type(model).__name__} exported to {path} (signatures serving_default, "
          "serve_uint8, serve_bytes)")
    return 0


def _load_encoder(path):
    import keras

    from keras_contrastive.export import load_encoder

    if os.path.isfile(path) and path.endswith(".keras"):
        model = keras.models.load_model(path)
        # a saved method's representation (CPC: the grid mean), or a saved encoder
        extractor = getattr(model, "feature_extractor", None)
        return extractor() if callable(extractor) else model
    return load_encoder(path)


def _evaluate(args):
    from keras_contrastive.evaluation import evaluate_encoder
    from keras_contrastive.pretraining import open_splits

    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    unknown = sorted(set(protocols) - set(EVALUATION_PROTOCOLS))
    if unknown or not protocols:
        raise ValueError(f"--protocols takes {', '.join(EVALUATION_PROTOCOLS)}; got "
                         f"{args.protocols!r}.")
    encoder = _load_encoder(args.encoder)
    size = encoder.input_shape[1] if encoder.input_shape[1] else None
    # only the subsets are read (a folder or a TFDS split may not fit in memory)
    train, test = open_splits(args.dataset, image_size=size)
    train, test = train.arrays(args.train_subset), test.arrays(args.test_subset)
    figures = evaluate_encoder(encoder, train, test, protocols, knn_k=args.knn_k, seed=args.seed,
                               label_fraction=args.label_fraction, epochs=args.epochs,
                               cam_path=args.cam_out, log=print)
    print(f"{args.encoder} on {args.dataset}: {len(train[1])} train / {len(test[1])} "
          "test images")
    for name, value in figures.items():
        print(f"{name:<18}{value:>8.4f}")
    if args.json:
        print(json.dumps(figures))
    return 0


def _views(args):
    from keras_contrastive.pretraining import PRESETS

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


def run(argv=None):
    """Entry point of the ``keras-contrastive`` command."""
    args = _parser().parse_args(argv)
    import keras

    keras.config.enable_interactive_logging()  # progress bars on stdout, not absl
    from keras_contrastive.callbacks import CollapseError, NonFiniteLossError

    try:
        return {"pretrain": _pretrain, "export": _export, "evaluate": _evaluate,
                "views": _views}[args.command](args)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError) as error:
        print(f"keras-contrastive {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (NonFiniteLossError, CollapseError) as error:
        print(f"keras-contrastive {args.command}: training stopped: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(run())
