"""Every method the CLI and the quality benchmark offer builds and trains through ``pretrain``."""
import numpy as np
import pytest

from keras_contrastive.pretraining import METHODS, NEEDS_ORIGINAL_VIEW, PretrainConfig, pretrain


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_pretrains_two_steps(method):
    config = PretrainConfig(method=method, epochs=1, batch_size=16, width=4, train_subset=32)
    seen = {}

    def evaluator(encoder, train, test, cfg):
        seen["features"] = encoder(train[0][:4].astype("float32") / 255.0).shape
        return {"evaluated": 1.0}

    result = pretrain(config, verbose=0, evaluate_random_init=False, log=lambda *a: None,
                      evaluator=evaluator)
    assert len(result.history["loss"]) == 1 and np.isfinite(result.history["loss"][0])
    assert result.metrics == {"evaluated": 1.0}
    assert seen["features"] == (4, result.model.feature_dim)
    assert int(result.model.optimizer.iterations.numpy()) == 2
    assert (method in NEEDS_ORIGINAL_VIEW) == (method == "leoclr")
