"""keras-contrastive: self-supervised contrastive learning for TensorFlow/Keras 3.

Importing the package quietens TensorFlow's C++ INFO and WARNING lines (the
grappler cost model's "Error in PredictCost() ... CropAndResize" on every
traced augmentation) by setting ``TF_CPP_MIN_LOG_LEVEL=2`` where the user
has not set it; errors still show.  It takes effect when TensorFlow is
imported after this package.  Set ``TF_CPP_MIN_LOG_LEVEL=0`` to see
everything.
"""
import os

__version__ = "0.1.0"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
