"""LeOCLR against MoCo-v2 and SimCLR on scene-centric images (LeOCLR Tables 4 and 6).

LeOCLR's argument (Alkhalefi et al.) is that two random crops of a scene
can miss the object, so pulling them together teaches the wrong thing; its
anchor is the uncropped original instead.  Four arms at equal settings, each
trained with every seed: MoCo-v2, LeOCLR (MoCo-v2 variant), SimCLR and
LeOCLR end-to-end (SimCLR with the original as the anchor).  Every arm is
scored on the same scenes: kNN and linear probe on the main garment's
class, segmentation mIoU (a linear head on the frozen feature map) and the
random-crop test of the linear probe (LeOCLR Table 6).

Statistics: every arm runs with every seed (``--seeds``, three by default),
each seed scored against its own random-init encoder; a table of mean ± sd
and one of the paper's claims, each "reproduced" only when the difference of
the means exceeds the spread (sd + sd).  One JSON line per (arm, seed) goes
to ``--records`` as soon as it is done, and a re-run with the same file
resumes after the last finished run.

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/scenes_leoclr.py --records scenes_leoclr.jsonl --out scenes_leoclr.md

Sizes (see ``--help``): 48-px scenes, ResNet-18 width 8, 10,000 scenes,
5 epochs, batch 256 by default.
"""
from keras_contrastive import seeded_comparison

if __name__ == "__main__":
    seeded_comparison.run_recipe("leoclr")
