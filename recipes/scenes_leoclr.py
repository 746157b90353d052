"""LeOCLR against MoCo-v2 and SimCLR on scene-centric images (LeOCLR Tables 4 and 6).

LeOCLR's argument (Alkhalefi et al.) is that two random crops of a scene
can miss the object, so pulling them together teaches the wrong thing; its
anchor is the uncropped original instead.  Four arms at equal settings, each
trained with every seed: MoCo-v2, LeOCLR (MoCo-v2 variant), SimCLR and
LeOCLR end-to-end (SimCLR with the original as the anchor).  Every arm is
scored on the same scenes: kNN and linear probe on the main garment's
class, segmentation mIoU (a linear head on the frozen feature map) and the
random-crop test of the linear probe (LeOCLR Table 6).

Run (a script, or one notebook cell):
``python recipes/scenes_leoclr.py --records scenes_leoclr.jsonl --out scenes_leoclr.md``.
Seeds, statistics, resumable records, ``--report_only`` and the sizes (``--help``):
``keras_contrastive.seeded_comparison``.
"""
from keras_contrastive import seeded_comparison

if __name__ == "__main__":
    seeded_comparison.run_recipe("leoclr")
