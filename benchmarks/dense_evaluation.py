"""Dense evaluation on data whose answer is known: segment retrieval and class activation maps.

1. Segment retrieval ("Revisiting..." A.7) on ``data.textured_scenes`` (four textures
   in Voronoi regions, 32x32): mIoU of a small CNN at random init and after SimCLR
   pretraining on the unlabelled scenes, K = 8 regions per image, against the floor of a
   constant encoder.  Picture: images, true and retrieved masks.
2. Class activation maps of a classifier that tells three glyphs apart, each image also
   holding an equally bright distractor bar: how often the true class's map peaks on the
   glyph (trained vs untrained).  Picture: images and maps.

    python benchmarks/dense_evaluation.py --out docs/

Prints a markdown table and a JSON line; writes ``segment_retrieval.png`` and
``class_activation_maps.png`` into ``--out``.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_contrastive import backbones, models, views  # noqa: E402
from keras_contrastive.data import GLYPH_NAMES, glyph_scenes, textured_scenes  # noqa: E402
from keras_contrastive.evaluation import (  # noqa: E402
    class_activation_maps, plot_class_activation_maps, plot_segments, pointing_game,
    segment_retrieval)

SIZE = 32


def _cnn(seed):
    """Three 3x3 convolutions (stride 1, 2, 2) + global average pooling: an 8x8 feature map."""
    keras.utils.set_random_seed(seed)
    return backbones.small_cnn((SIZE, SIZE, 1), filters=(16, 32, 32), batch_norm=False)


def _constant_encoder():
    """The floor: the same features for every image."""
    x = keras.Input((SIZE, SIZE, 1))
    y = keras.layers.Conv2D(8, 4, strides=4, kernel_initializer="zeros", bias_initializer="ones")(x)
    return keras.Model(x, keras.layers.GlobalAveragePooling2D()(y))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=".", help="folder of the two pictures")
    parser.add_argument("--ssl-epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    figures = {}

    images, masks = textured_scenes(2200, size=(SIZE, SIZE), seed=args.seed)
    unlabelled, train, val = images[:2000], (images[2000:2150], masks[2000:2150]), (
        images[2150:], masks[2150:])
    rows = {"constant encoder (floor)": _constant_encoder(), "random init": _cnn(args.seed)}
    encoder = _cnn(args.seed)
    augment = views.simclr_augment(SIZE, channels=1, strength=0.5, crop_scale=(0.3, 1.0),
                                   grayscale_prob=0.0, seed=args.seed)
    data = views.make_views(tf.data.Dataset.from_tensor_slices(unlabelled), augment,
                            batch_size=100, seed=args.seed)
    model = models.SimCLR(encoder, projection_dim=32, hidden_dim=64, temperature=0.2)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    start = time.perf_counter()
    model.fit(data, epochs=args.ssl_epochs, verbose=2)
    figures["simclr_seconds"] = round(time.perf_counter() - start, 1)
    rows[f"SimCLR, {args.ssl_epochs} epochs on 2,000 unlabelled scenes"] = encoder
    results = {name: segment_retrieval(network, train, val, k_clusters=8, seed=args.seed)
               for name, network in rows.items()}
    print("| encoder | mIoU | pixel acc |\n|---|---|---|")
    for name, result in results.items():
        print(f"| {name} | {result['miou']:.3f} | {result['pixel_acc']:.3f} |")
        figures[f"segment_miou[{name}]"] = round(result["miou"], 4)
    last = list(results.values())[-1]
    plot_segments(val[0][:8], val[1][:8], last["predictions"][:8],
                  os.path.join(args.out, "segment_retrieval.png"))

    images, labels, boxes = glyph_scenes(1500, size=SIZE, seed=args.seed)
    encoder, head = _cnn(args.seed), keras.layers.Dense(3)
    classifier = keras.Sequential([encoder, head])
    classifier.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       metrics=["accuracy"])
    classifier.fit(images[:1200], labels[:1200], epochs=8, batch_size=64, verbose=0)
    test = images[1200:], labels[1200:], boxes[1200:]
    cams = class_activation_maps(encoder, head, test[0], class_ids=test[1])
    untrained = class_activation_maps(_cnn(args.seed + 1), keras.layers.Dense(3), test[0],
                                      class_ids=test[1])
    figures["cam_peak_on_glyph_trained"] = round(pointing_game(cams["maps"], test[2]), 4)
    figures["cam_peak_on_glyph_untrained"] = round(pointing_game(untrained["maps"], test[2]), 4)
    figures["glyph_classifier_acc"] = round(float(classifier.evaluate(
        test[0], test[1], verbose=0)[1]), 4)
    print(f"\nCAM peak on the glyph: trained {figures['cam_peak_on_glyph_trained']:.3f}, "
          f"untrained {figures['cam_peak_on_glyph_untrained']:.3f} "
          f"(classifier accuracy {figures['glyph_classifier_acc']:.3f})")
    plot_class_activation_maps(test[0][:16], cams["maps"][:16],
                               os.path.join(args.out, "class_activation_maps.png"),
                               titles=[GLYPH_NAMES[k] for k in test[1][:16]])
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
