""""Revisiting..." Fig. 3: transfer with the IoU of the two views capped.

MoCo-v2 with the intersection-over-union of its two crops forced below a
threshold (any, 0.5, 0.3, 0.1).  The paper finds the loss rises as the IoU
falls while the transfer performance stays stable.

Run (a script, or one notebook cell):
``python recipes/scenes_iou.py --records scenes_iou.jsonl --out scenes_iou.md``.
Seeds, statistics, resumable records, ``--report_only`` and the sizes (``--help``):
``keras_contrastive.seeded_comparison``.
"""
from keras_contrastive import seeded_comparison

if __name__ == "__main__":
    seeded_comparison.run_recipe("iou")
