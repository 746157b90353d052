"""keras-contrastive: self-supervised contrastive learning for TensorFlow/Keras."""
import re
from pathlib import Path

from setuptools import find_packages, setup

version = re.search(
    r'__version__ = "([^"]+)"',
    Path(__file__).with_name("keras_contrastive").joinpath("__init__.py").read_text(),
).group(1)

setup(
    name="keras-contrastive",
    version=version,
    description="Self-supervised contrastive learning of image representations with Keras 3.",
    long_description=Path(__file__).with_name("README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["keras_contrastive", "keras_contrastive.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15",
        "tensorflow-datasets",
        "absl-py",
        "tensorboard",  # --logdir: tf.summary needs it since TensorFlow 2.21
        "importlib_resources",  # tensorflow-datasets imports it on every Python
        "numpy",
        "scikit-learn",
        "threadpoolctl",  # the linear probe pins BLAS threads
    ],
    extras_require={
        "test": ["pytest", "pytest-xdist"],
        "plots": ["matplotlib"],
        # backbones.as_encoder of keras-hub ViT / ResNet / DINOv2 backbones; not in "test": it
        # pulls tensorflow-text (60 MB) and a dozen download clients the tests never use
        "hub": ["keras-hub>=0.32"],
        # `embed`: .parquet output, faiss neighbours on many images, UMAP maps, the pictures
        "embed": ["pyarrow", "faiss-cpu", "umap-learn", "matplotlib"],
        # notebooks/*.ipynb run headless by tests/test_notebook.py (which skips without
        # it); in `make install`: about 66 MB installed (debugpy, jedi, IPython, tornado)
        "notebook": ["nbclient", "nbformat", "ipykernel"],
    },
    entry_points={"console_scripts": ["keras-contrastive=keras_contrastive.cli:run"]},
    license="Apache-2.0",
)
