""""Revisiting..." Tables 1-3: object- vs scene-centric, uniform vs long-tailed data.

MoCo-v2 pretrained on four data sets of equal size made from the same
garments: scenes (1-4 garments over cluttered or textured backgrounds) or
their object-centric twins (one centred garment), with the garments drawn
from a class-balanced or a Pareto long-tailed (256:1) subset of
Fashion-MNIST.  The paper finds MoCo robust to both biases: scene-centric
and long-tailed pretraining on par or better in transfer.

Run (a script, or one notebook cell):
``python recipes/scenes_data_bias.py --records scenes_data_bias.jsonl --out scenes_data_bias.md``.
Seeds, statistics, resumable records, ``--report_only`` and the sizes (``--help``):
``keras_contrastive.seeded_comparison``.
"""
from keras_contrastive import seeded_comparison

if __name__ == "__main__":
    seeded_comparison.run_recipe("data_bias")
