"""Jigsaw's representation: the whole image against its 3x3 tile grid.

Jigsaw trains its encoder on 8x8 tiles of the 28x28 images (3x3 cells of
9 px, 1 px of jitter) and the quality protocol evaluates that encoder on whole
images.  This script runs the protocol's Jigsaw pretraining (``PRESETS
["quality"]``, the same settings as ``quality.py --method jigsaw``) and
evaluates three representations of each image, at random init and after
pretraining, each against its own random init:

* ``whole``: the encoder on the whole 28x28 image (the protocol's figure);
* ``tile_mean``: the mean of the encoder's features of the 9 tiles, cut at
  the top-left of each cell (no jitter);
* ``tile_concat``: the same 9 feature vectors concatenated, in cell order
  (what the permutation classifier reads); kNN only (its linear probe on
  9 x 128 features takes sklearn a long time on 60,000 images).

Usage: ``python benchmarks/jigsaw_representation.py [--epochs 5]``.  Prints
one JSON line per evaluation and a summary JSON line last.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_contrastive.evaluation.protocols import evaluate_encoder  # noqa: E402
from keras_contrastive.models.cpc import GridMeanPool  # noqa: E402
from keras_contrastive.pretraining import PRESETS, pretrain  # noqa: E402
from keras_contrastive.views.pretext import jigsaw_tiles  # noqa: E402


def tile_model(encoder, mode, shape=(28, 28, 1), grid=3, jitter=1):
    """Images -> the mean (``mode="mean"``) or concatenation of their tile features."""
    dim = encoder.output_shape[-1]

    def cut(x):  # each cell's tile at offset 0: the training cut without its random jitter
        tiles = jigsaw_tiles(x, grid=grid, jitter=jitter, offset=0)  # [B, 9, t, t, C]
        return tf.reshape(tiles, [-1, *tiles.shape[2:]])

    inputs = keras.Input(shape)
    features = encoder(keras.layers.Lambda(cut)(inputs))  # [B * 9, D], cell order per image
    pool = (GridMeanPool(grid) if mode == "mean" else
            keras.layers.Lambda(lambda z: tf.reshape(z, [-1, grid * grid * dim])))
    return keras.Model(inputs, pool(features))


def evaluator(encoder, train, test, config):
    """kNN + linear of ``whole`` and ``tile_mean``, kNN of ``tile_concat``."""
    out = {}
    for name, model in [("whole", encoder), ("tile_mean", tile_model(encoder, "mean")),
                        ("tile_concat", tile_model(encoder, "concat"))]:
        metrics = evaluate_encoder(
            model, train, test, ("knn",) if name == "tile_concat" else ("knn", "linear"),
            knn_k=config.knn_k, knn_temperature=config.knn_temperature, seed=config.seed)
        out.update({f"{name}_{k}": round(float(v), 4) for k, v in metrics.items()})
    print(json.dumps(out), flush=True)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)
    config = PRESETS["quality"].replace(method="jigsaw", epochs=args.epochs)
    result = pretrain(config, verbose=2, evaluator=evaluator)
    print(json.dumps({"method": "jigsaw", "epochs": args.epochs, **result.metrics}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
