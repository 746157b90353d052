"""``keras-contrastive`` (also ``python -m keras_contrastive``): the command line.

Example::

    keras-contrastive pretrain --method simclr --dataset fashion_mnist \\
        --epochs 5 --batch-size 256 --export saved_models/simclr_fashion_mnist
"""
import argparse
import json
import os
import sys

# TensorFlow's C++ INFO/WARNING lines (grappler cost-model notes on every
# traced augmentation) drown the progress bars; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_PRETRAIN_FIELDS = (
    "method", "dataset", "epochs", "batch_size", "width", "stem", "learning_rate",
    "temperature", "projection_dim", "anchor", "image_size", "train_subset",
    "eval_train_subset", "eval_test_subset", "seed",
)


def _parser():
    from keras_contrastive.pretraining import METHODS, PRESETS

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
    pre.add_argument("--method", choices=sorted(METHODS))
    pre.add_argument("--dataset", help="fashion_mnist, an image folder, or a TFDS name")
    pre.add_argument("--epochs", type=int)
    pre.add_argument("--batch-size", type=int)
    pre.add_argument("--width", type=int, help="ResNet-18 width (64 = standard)")
    pre.add_argument("--stem", choices=["cifar", "imagenet"])
    pre.add_argument("--learning-rate", type=float, help="peak SGD rate (default 0.06*B/256)")
    pre.add_argument("--temperature", type=float)
    pre.add_argument("--projection-dim", type=int)
    pre.add_argument("--anchor", choices=["crop", "original"],
                     help="original: the uncropped image anchors both crops (LeOCLR's "
                     "strategy; simclr and byol)")
    pre.add_argument("--image-size", type=int)
    pre.add_argument("--train-subset", type=int, help="pretrain on the first N images")
    pre.add_argument("--eval-train-subset", type=int)
    pre.add_argument("--eval-test-subset", type=int)
    pre.add_argument("--seed", type=int)
    pre.add_argument("--export", metavar="DIR",
                     help="write the encoder to DIR/<version>/ (TF Serving layout)")
    pre.add_argument("--version", type=int, default=1, help="SavedModel version (default 1)")
    pre.add_argument("--overwrite", action="store_true", help="replace an existing export")
    pre.add_argument("--json", action="store_true", help="print the summary as JSON too")
    return parser


def _pretrain(args):
    from keras_contrastive.export import check_export_path, export_encoder
    from keras_contrastive.pretraining import PRESETS, pretrain

    config = PRESETS[args.preset].replace(**{
        field: getattr(args, field)
        for field in _PRETRAIN_FIELDS
        if getattr(args, field) is not None
    })
    if args.export:
        check_export_path(args.export, args.version, args.overwrite)  # fail before training
    result = pretrain(config)
    m = result.metrics
    print()
    print(f"{config.method} on {config.dataset}: {config.epochs} epochs in "
          f"{result.seconds:.0f} s ({result.pairs_per_s:.0f} view pairs/s)")
    print(f"{'encoder':<14}{'kNN acc':>10}{'linear acc':>12}")
    if "random_knn_acc" in m:
        print(f"{'random init':<14}{m['random_knn_acc']:>10.4f}{m['random_linear_acc']:>12.4f}")
    print(f"{'pretrained':<14}{m['knn_acc']:>10.4f}{m['linear_acc']:>12.4f}")
    if args.export:
        path = export_encoder(result.model, args.export, version=args.version,
                              overwrite=args.overwrite)
        print(f"encoder exported to {path} (signature serving_default)")
    if args.json:
        print(json.dumps({"method": config.method, "epochs": config.epochs,
                          "pairs_per_s": result.pairs_per_s, **m}))
    return 0


def run(argv=None):
    """Entry point of the ``keras-contrastive`` command."""
    args = _parser().parse_args(argv)
    import keras

    keras.config.enable_interactive_logging()  # progress bars on stdout, not absl
    try:
        return {"pretrain": _pretrain}[args.command](args)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError) as error:
        print(f"keras-contrastive {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(run())
