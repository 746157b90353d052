""""Revisiting Contrastive Methods..." Table 4 on scene-centric images.

Each arm adds one modification to MoCo-v2 (Van Gansbeke et al., Table 4):
multi-crop (4 local crops), constrained multi-crop (local crops overlap the
key crop by >= 20 %), a lower key momentum (0.98), the stronger A+ policy,
and the nearest-neighbour loss (kNN-MoCo).  The paper scores them by
semantic segmentation transfer (mIoU) and classification; so does this
recipe, on the same scenes for every arm.

Statistics: every arm runs with every seed (``--seeds``, three by default),
each seed scored against its own random-init encoder; a table of mean ± sd
and one of the paper's claims, each "reproduced" only when the difference of
the means exceeds the spread (sd + sd).  One JSON line per (arm, seed) goes
to ``--records`` as soon as it is done, and a re-run with the same file
resumes after the last finished run.

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/scenes_revisiting.py --records scenes_revisiting.jsonl --out scenes_revisiting.md

Sizes (see ``--help``): 48-px scenes, ResNet-18 width 8, 10,000 scenes,
5 epochs, batch 256 by default.
"""
from keras_contrastive import seeded_comparison

if __name__ == "__main__":
    seeded_comparison.run_recipe("revisiting")
