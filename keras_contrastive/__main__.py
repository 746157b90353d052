import sys

from keras_contrastive.cli import run

sys.exit(run())
