""""Revisiting..." Fig. 3: transfer with the IoU of the two views capped.

MoCo-v2 with the intersection-over-union of its two crops forced below a
threshold (any, 0.5, 0.3, 0.1).  The paper finds the loss rises as the IoU
falls while the transfer performance stays stable.

Statistics: every arm runs with every seed (``--seeds``, three by default),
each seed scored against its own random-init encoder; a table of mean ± sd
and one of the paper's claims, each "reproduced" only when the difference of
the means exceeds the spread (sd + sd).  One JSON line per (arm, seed) goes
to ``--records`` as soon as it is done, and a re-run with the same file
resumes after the last finished run.

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/scenes_iou.py --records scenes_iou.jsonl --out scenes_iou.md

Sizes (see ``--help``): 48-px scenes, ResNet-18 width 8, 10,000 scenes,
5 epochs, batch 256 by default.
"""
from keras_contrastive import seeded_comparison

if __name__ == "__main__":
    seeded_comparison.run_recipe("iou")
