""""Revisiting..." Tables 1-3: object- vs scene-centric, uniform vs long-tailed data.

MoCo-v2 pretrained on four data sets of equal size made from the same
garments: scenes (1-4 garments over cluttered or textured backgrounds) or
their object-centric twins (one centred garment), with the garments drawn
from a class-balanced or a Pareto long-tailed (256:1) subset of
Fashion-MNIST.  The paper finds MoCo robust to both biases: scene-centric
and long-tailed pretraining on par or better in transfer.

Statistics: every arm runs with every seed (``--seeds``, three by default),
each seed scored against its own random-init encoder; a table of mean ± sd
and one of the paper's claims, each "reproduced" only when the difference of
the means exceeds the spread (sd + sd).  One JSON line per (arm, seed) goes
to ``--records`` as soon as it is done, and a re-run with the same file
resumes after the last finished run.

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/scenes_data_bias.py --records scenes_data_bias.jsonl --out scenes_data_bias.md

Sizes (see ``--help``): 48-px scenes, ResNet-18 width 8, 10,000 scenes,
5 epochs, batch 256 by default.
"""
from keras_contrastive import seeded_comparison

if __name__ == "__main__":
    seeded_comparison.run_recipe("data_bias")
