"""Quality benchmark: the protocol every method is compared on.

Fashion-MNIST 60k/10k at 28x28x1, ``resnet18(width=16, stem="cifar")``,
batch 256, SGD momentum 0.9, lr 0.06*B/256, weight decay 5e-4, cosine decay;
views = RandomResizedCrop(28, scale 0.2-1) + horizontal flip +
brightness/contrast jitter 0.4 with p=0.8.  Evaluation: kNN (k=200, T=0.1)
and the L-BFGS linear probe on the backbone's features, for the pretrained
encoder and for the same encoder at random init.

In the same run it times a supervised step of the same backbone (+ a linear
classifier, cross-entropy, same optimizer and batch) so the self-supervised
throughput can be read against it: one step of a two-view method encodes 2B
images, so the comparable figure is SSL images/s = 2 * pairs/s.  The summary's
``ssl_images_per_s`` assumes two views: for LeOCLR (3 views) and multi-crop
runs (local crops on top) it undercounts the images encoded, so compare their
``pairs_per_s`` (source images/s) instead.

    python benchmarks/quality.py --method simclr --epochs 5 [--train-subset N]
        [--finetune-fraction 0.1 --finetune-epochs 10]
        [--optimizer sgd --learning-rate 0.5 --weight-decay 1e-5 --warmup-epochs 1
         --option momentum=0.99 ...] [--resume DIR [--backup-steps N]]

The optimizer flags and ``--option KEY=VALUE`` (a model constructor
argument, the value read as JSON when it parses, else as a string) change the
protocol for one run; the summary records them, so a row measured with other
settings says so.

With ``--finetune-fraction`` it also runs the semi-supervised protocol
(``evaluation.finetune``: the whole network trained on a class-balanced
label fraction, random-resized-crop + flip, SGD + cosine) twice with the same
settings: from the pretrained encoder and from the same architecture at random
init.

With ``--resume DIR`` a long run survives being stopped: it is backed up
to DIR each epoch (or every ``--backup-steps N`` steps) and, started again
with the same flags, resumes from the backup (``callbacks.BackupAndRestore``;
the optimizer state, queues and EMA targets included).  A resumed run's
``pretrain_seconds``, throughput and loss history cover only the epochs it
trained itself, and its summary says ``"resumed": true``.

The last line printed is a JSON object with keys ``method``, ``epochs``,
``pairs_per_s``, ``knn_acc``, ``linear_acc`` (and the random-init and
supervised figures).
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_contrastive import backbones  # noqa: E402
from keras_contrastive.data import load_fashion_mnist_arrays  # noqa: E402
from keras_contrastive.models.registry import method_names  # noqa: E402
from keras_contrastive.pretraining import (  # noqa: E402
    OPTIMIZERS, PRESETS, build_optimizer, pretrain)


class _BatchTimer(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)

    def on_train_begin(self, logs=None):
        self.seconds = []


def supervised_images_per_s(config, steps=40, warmup=5):
    """Images/s of a supervised training step of the same backbone and batch."""
    images, labels = load_fashion_mnist_arrays("train")
    n = config.batch_size * steps
    x = images[:n].astype("float32") / 255.0
    data = tf.data.Dataset.from_tensor_slices((x, labels[:n])).batch(
        config.batch_size, drop_remainder=True).cache().repeat().prefetch(2)
    encoder = backbones.resnet18(x.shape[1:], width=config.width, stem=config.stem)
    model = keras.Sequential([encoder, keras.layers.Dense(10)])
    model.compile(optimizer=build_optimizer(config, steps),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    timer = _BatchTimer()
    model.fit(data, steps_per_epoch=steps + warmup, epochs=1, verbose=0, callbacks=[timer])
    return config.batch_size / float(np.median(timer.seconds[warmup:]))


def finetune_comparison(encoder, config, args):
    """Fine-tuning on a label fraction from ``encoder`` and from a random init of
    the same architecture, with identical subset, augmentation and schedule."""
    from keras_contrastive.evaluation import crop_flip, finetune

    train = load_fashion_mnist_arrays("train")
    test = load_fashion_mnist_arrays("test")
    augment = crop_flip(28, 28, scale=(0.2, 1.0), seed=args.seed)
    keras.utils.set_random_seed(args.seed)
    scratch = keras.models.clone_model(encoder)  # fresh initialisers, same architecture
    out = {"finetune_fraction": args.finetune_fraction,
           "finetune_epochs": args.finetune_epochs, "finetune_lr": args.finetune_lr}
    for name, network in (("pretrained", encoder), ("scratch", scratch)):
        start = time.perf_counter()
        accuracy = finetune(network, train, test, label_fraction=args.finetune_fraction,
                            epochs=args.finetune_epochs, learning_rate=args.finetune_lr,
                            seed=args.seed, augment=augment)["accuracy"]
        print(f"fine-tuned on {args.finetune_fraction:.0%} of the labels from {name}: "
              f"{accuracy:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
        out[f"finetune_{name}_acc"] = round(accuracy, 4)
    return out


def parse_options(pairs, parser):
    """``["momentum=0.99", "k=5"]`` -> ``{"momentum": 0.99, "k": 5}`` (JSON values, else strings)."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            parser.error(f"--option takes KEY=VALUE, got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", choices=method_names(), default="simclr",
                        help="a registered method (models.registry)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-subset", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--finetune-fraction", type=float, default=None,
                        help="also fine-tune on this label fraction, pretrained vs from scratch")
    parser.add_argument("--finetune-epochs", type=int, default=10)
    parser.add_argument("--finetune-lr", type=float, default=0.05)
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=None,
                        help="default: the method's (MethodSpec.optimizer; SGD for most)")
    parser.add_argument("--learning-rate", type=float, default=None, help="peak learning rate")
    parser.add_argument("--weight-decay", type=float, default=None)
    parser.add_argument("--warmup-epochs", type=int, default=None)
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a model constructor argument (repeatable), e.g. momentum=0.99")
    parser.add_argument("--resume", metavar="DIR", default=None,
                        help="back the run up to DIR and resume from the backup DIR holds")
    parser.add_argument("--backup-steps", type=int, default=None, metavar="N",
                        help="with --resume: back up every N steps instead of each epoch")
    args = parser.parse_args(argv)
    if args.backup_steps is not None and (args.backup_steps < 1 or not args.resume):
        parser.error("--backup-steps must be a positive number of steps and needs --resume")
    config = PRESETS["quality"].replace(
        method=args.method, epochs=args.epochs, train_subset=args.train_subset, seed=args.seed,
        model_options=parse_options(args.option, parser)).replace_given(
        optimizer=args.optimizer, learning_rate=args.learning_rate,
        weight_decay=args.weight_decay, warmup_epochs=args.warmup_epochs)
    supervised = supervised_images_per_s(config)
    print(f"supervised step: {supervised:.0f} images/s", flush=True)
    from keras_contrastive.callbacks import BackupAndRestore, NaNGuard

    callbacks = [NaNGuard()]  # stop at the first NaN
    resumed = bool(args.resume) and os.path.isdir(args.resume) and bool(os.listdir(args.resume))
    if args.resume:  # first, so a step's backup is written before the guard stops the run
        callbacks.insert(0, BackupAndRestore(args.resume, save_freq=args.backup_steps or "epoch"))
    if resumed:
        print(f"resuming from the backup in {args.resume}", flush=True)
    result = pretrain(config, verbose=2, callbacks=callbacks)
    ssl_images = 2 * result.pairs_per_s
    summary = {
        "method": config.method,
        "epochs": config.epochs,
        "train_images": config.train_subset or 60000,
        "pairs_per_s": round(result.pairs_per_s, 1),
        "ssl_images_per_s": round(ssl_images, 1),
        "supervised_images_per_s": round(supervised, 1),
        "ssl_over_supervised_images_per_s": round(ssl_images / supervised, 3),
        "pretrain_seconds": round(result.seconds, 1),
        "optimizer": config.optimizer_name,
        "peak_learning_rate": config.peak_learning_rate,
        "weight_decay": config.effective_weight_decay,
        "warmup_epochs": config.effective_warmup_epochs,
        "model_options": config.model_options,
        "resumed": resumed,
        **{k: round(v, 4) for k, v in result.metrics.items()},
        "machine": f"{os.cpu_count()} CPU cores, TensorFlow {tf.__version__}",
    }
    if args.finetune_fraction:
        summary.update(finetune_comparison(result.model.feature_extractor(), config, args))
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
