"""MAE with keras-contrastive: pretrain, evaluate, export.

He, Chen, Xie, Li, Dollar, Girshick: Masked Autoencoders Are Scalable Vision Learners (CVPR 2022).

Runs as a script or pasted into one notebook (Colab) cell:

    python recipes/mae.py --preset cpu_small --epochs 5
    python recipes/mae.py --preset paper --dataset imagenet2012 --strategy mirrored

``--preset cpu_small`` is the library's Fashion-MNIST quality protocol (its
figures are in BENCHMARKS.md); ``--preset paper`` the paper's ImageNet-scale
setup.  ``--dataset`` takes ``fashion_mnist``, an image folder or a TFDS
name; ``--strategy`` ``default``, ``mirrored`` or ``multi_worker`` (cluster
from ``TF_CONFIG``).  The run ends with kNN and linear-probe accuracy of the
frozen encoder and its export to ``--export`` (TF Serving layout).
``--dry_run`` builds the model and prints the settings without training.
``python recipes/mae.py --help`` lists every flag.

===============  =======================================================================  ===================================================
setting          --preset paper                                                           --preset cpu_small
===============  =======================================================================  ===================================================
data             imagenet2012                                                             fashion_mnist
backbone         ViT-S/16                                                                 ViT-Micro/4 (96 wide, 4 blocks)
epochs x batch   1600 x 4096                                                              5 x 256
optimizer        ADAMW, lr 0.0024, wd 0.05, 40 warm-up epochs, cosine                     ADAMW, lr 0.00015, wd 0.05, 1 warm-up epoch, cosine
views            224 px crops 0.2-1                                                       native-size crops 0.2-1, jitter 0.5
model arguments  decoder_depth=8, decoder_dim=512, decoder_num_heads=16, mask_ratio=0.75  protocol (MethodSpec.protocol)
paper's result   83.6 % fine-tuned top-1 (ViT-B/16, 1600 epochs)                          BENCHMARKS.md
===============  =======================================================================  ===================================================

Departures from the paper:

* ViT-S/16 in place of ViT-B/16 (the library's ViTs)
* learned decoder position embeddings (the paper: fixed sine-cosine)
* AdamW's betas (0.9, 0.999) (the paper: 0.95)
"""
from keras_contrastive import recipes

recipes.define_flags("mae")

if __name__ == "__main__":
    recipes.main("mae")
