"""CLIP-style dual encoder on captioned scenes: retrieval and zero-shot against chance and
the random init (issue 29).

Each seed trains a :class:`keras_contrastive.models.DualEncoder` (the small CNN image tower,
a Transformer text tower) on ``fashion_scene_captions("train")`` and scores, on held-out
test scenes, Recall@1/5 image->text and text->image and zero-shot accuracy of the main
garment from ``"a photo of a {class}"`` prompts -- for the trained model and for the same
model at its random init, in the same run, with chance beside them.

Not a registry method: the registry's runs make views of unlabelled images, a dual
encoder trains on image-caption pairs (docs/ARCHITECTURE.md).

Paper (Radford et al. 2021): batch 32,768, 32 epochs, AdamW lr 5e-4, weight decay 0.2,
temperature 0.07 learnt, ViT-L/14 + 12-layer text Transformer; 76.2 % zero-shot ImageNet
top-1.  Here: ``--preset cpu_small`` (minutes on a CPU) or ``--preset scenes`` (the full
20,000 training scenes).

Run: ``python recipes/clip_scenes.py --preset cpu_small --seeds 0 1 2 --out clip.jsonl``.

``--export DIR`` also writes each trained model as a TF Serving SavedModel of both towers
(:func:`keras_contrastive.export.export_dual_encoder`: image signatures and ``serve_text``,
the vocabulary and logit scale in ``metadata.json`` with the seed's scores): ``DIR/<N>``
for one seed, ``DIR/seed<S>/<N>`` for several (``N``: ``--export-version``, default 1;
``--overwrite`` replaces it).  The destination is checked before training.
"""
import argparse
import json
import os

import keras
import tensorflow as tf

from keras_contrastive import backbones, data, models
from keras_contrastive.evaluation import evaluate_dual_encoder
from keras_contrastive.export import check_export_path, export_dual_encoder
from keras_contrastive.models.dual_encoder import text_vocabulary

PRESETS = {
    "cpu_small": dict(train=2048, test=512, size=32, objects=(1, 2), epochs=20, batch_size=128,
                      lr=2e-3, weight_decay=1e-4, projection_dim=64, text_dim=64,
                      text_depth=2),
    "scenes": dict(train=20_000, test=2_000, size=48, objects=(1, 4), epochs=30,
                   batch_size=256, lr=1e-3, weight_decay=0.2, projection_dim=128, text_dim=128,
                   text_depth=4),
}


def run(seed, train, test, size, objects, epochs, batch_size, lr, weight_decay, projection_dim,
        text_dim, text_depth, export=None):
    """One seed: ``{"seed", "random_init", "trained", "loss"}`` (``evaluate_dual_encoder``'s);
    with ``export={"path", "version", "overwrite", "metadata"}``, the trained model is
    written there (``export_dual_encoder``) and ``"export"`` names the version folder."""
    images, captions = data.fashion_scene_captions("train", train, size=size, seed=seed,
                                                   objects=objects)
    test_images, test_captions, scenes = data.fashion_scene_captions(
        "test", test, size=size, seed=seed, objects=objects, return_scenes=True)
    keras.utils.set_random_seed(seed)
    model = models.DualEncoder(backbones.small_cnn((size, size, 3)), text_vocabulary(captions),
                               projection_dim=projection_dim, sequence_length=40,
                               text_dim=text_dim, text_depth=text_depth,
                               text_num_heads=max(1, text_dim // 32))
    model.compile(optimizer=keras.optimizers.AdamW(lr, weight_decay=weight_decay))

    def score():
        return evaluate_dual_encoder(model, test_images, test_captions, scenes.labels,
                                     data.class_prompts())

    initial = score()
    pairs = tf.data.Dataset.from_tensor_slices({"images": images, "texts": captions})
    pairs = pairs.shuffle(len(images), seed=seed).batch(batch_size, drop_remainder=True)
    history = model.fit(pairs, epochs=epochs, verbose=0).history
    record = {"seed": seed, "random_init": initial, "trained": score(),
              "loss": [round(v, 4) for v in history["loss"]]}
    if export:
        record["export"] = export_dual_encoder(
            model, export["path"], version=export["version"], overwrite=export["overwrite"],
            metadata={**export.get("metadata", {}), "seed": seed,
                      "training_data": f"fashion_scene_captions('train', {train}, size={size}, "
                                       f"seed={seed}, objects={tuple(objects)})",
                      "metrics": {"random_init": initial, "trained": record["trained"]}})
    return record


def _export_targets(args):
    """``{seed: export dict}`` for ``--export``: ``DIR`` for one seed, ``DIR/seed<S>`` for
    several; each destination checked before any training."""
    if not args.export:
        return {}
    targets = {}
    for seed in args.seeds:
        path = (args.export if len(args.seeds) == 1
                else os.path.join(args.export, f"seed{seed}"))
        check_export_path(path, args.export_version, args.overwrite)
        targets[seed] = {"path": path, "version": args.export_version,
                         "overwrite": args.overwrite, "metadata": {"preset": args.preset}}
    return targets


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu_small")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default=None, help="a JSON-lines file, one record per seed")
    parser.add_argument("--export", metavar="DIR", default=None,
                        help="write each trained model as a SavedModel of both towers "
                             "(DIR/<version>; DIR/seed<S>/<version> for several seeds)")
    parser.add_argument("--export-version", type=int, default=1, metavar="N",
                        help="the SavedModel version (default 1)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing export version")
    args = parser.parse_args(argv)
    if args.export_version < 0:
        parser.error(f"--export-version must be >= 0, got {args.export_version}")
    targets = _export_targets(args)
    for seed in args.seeds:
        record = {"preset": args.preset,
                  **run(seed, **PRESETS[args.preset], export=targets.get(seed))}
        print(json.dumps(record))
        if args.out:
            with open(args.out, "a") as stream:
                stream.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
