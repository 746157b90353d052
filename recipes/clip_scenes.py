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
"""
import argparse
import json

import keras
import tensorflow as tf

from keras_contrastive import backbones, data, models
from keras_contrastive.evaluation import evaluate_dual_encoder
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
        text_dim, text_depth):
    """One seed: ``{"seed", "random_init", "trained", "loss"}`` (``evaluate_dual_encoder``'s)."""
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
    return {"seed": seed, "random_init": initial, "trained": score(),
            "loss": [round(v, 4) for v in history["loss"]]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu_small")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default=None, help="a JSON-lines file, one record per seed")
    args = parser.parse_args(argv)
    for seed in args.seeds:
        record = {"preset": args.preset, **run(seed, **PRESETS[args.preset])}
        print(json.dumps(record))
        if args.out:
            with open(args.out, "a") as stream:
                stream.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
