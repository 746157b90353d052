"""DenseCL (Wang et al. 2021) against MoCo-v2 on scene-centric images.

DenseCL adds a dense contrastive loss between matched feature-map locations
of the two views to MoCo-v2's global loss; its paper claims better transfer
to dense prediction (segmentation, detection) at on-par classification.  Both
arms run the same settings on the same scenes; the score is segmentation
transfer (mIoU of a linear head on the frozen feature map) and the linear
probe on the main garment.

Run (a script, or one notebook cell):
``python recipes/scenes_densecl.py --records scenes_densecl.jsonl --out scenes_densecl.md``.
Seeds, statistics, resumable records, ``--report_only`` and the sizes (``--help``):
``keras_contrastive.seeded_comparison``.
"""
from keras_contrastive import seeded_comparison

if __name__ == "__main__":
    seeded_comparison.run_recipe("densecl")
