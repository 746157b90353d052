""""Revisiting Contrastive Methods..." Table 4 on scene-centric images.

Each arm adds one modification to MoCo-v2 (Van Gansbeke et al., Table 4):
multi-crop (4 local crops), constrained multi-crop (local crops overlap the
key crop by >= 20 %), a lower key momentum (0.98), the stronger A+ policy,
and the nearest-neighbour loss (kNN-MoCo).  The paper scores them by
semantic segmentation transfer (mIoU) and classification; so does this
recipe, on the same scenes for every arm.

Run (a script, or one notebook cell):
``python recipes/scenes_revisiting.py --records scenes_revisiting.jsonl --out scenes_revisiting.md``.
Seeds, statistics, resumable records, ``--report_only`` and the sizes (``--help``):
``keras_contrastive.seeded_comparison``.
"""
from keras_contrastive import seeded_comparison

if __name__ == "__main__":
    seeded_comparison.run_recipe("revisiting")
