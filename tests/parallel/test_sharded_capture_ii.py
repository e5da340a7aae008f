"""capture and II on 8 forced CPU devices equal the single-device results."""

import textwrap

import jax
import numpy as np

from jaxinterp import models, similarity
from jaxinterp.capture import capture
from jaxinterp.scores import interpretability_index_all
from tests.eight_devices import run_on_eight_devices

SCRIPT = textwrap.dedent(
    """
    import sys, json
    import jax, numpy as np
    from jaxinterp import models, similarity, parallel
    from jaxinterp.capture import capture
    from jaxinterp.scores import interpretability_index_all
    assert jax.device_count() == 8, jax.devices()
    model = models.get("small_cnn")
    variables = models.init(model, jax.random.key(0))
    images = np.random.default_rng(0).integers(0, 256, (203, 8, 8, 1), dtype=np.uint8)
    acts = capture(model, variables, images, ["relu2"], batch_size=64, progress=False)["relu2"]
    feats = similarity.colour.featurize(images.astype(np.float32) / 255, None)
    n = 200  # a multiple of 8 for the sharded II
    sharded_acts = parallel.shard_batch(acts[:n])
    assert len(sharded_acts.sharding.device_set) == 8
    ii = interpretability_index_all(sharded_acts, similarity.colour, parallel.shard_batch(feats[:n]))
    np.savez(sys.argv[1], acts=acts, ii=np.asarray(ii))
    """
)


def test_eight_devices_equal_one(tmp_path):
    sharded = run_on_eight_devices(SCRIPT, tmp_path / "sharded.npz")

    model = models.get("small_cnn")
    variables = models.init(model, jax.random.key(0))
    images = np.random.default_rng(0).integers(0, 256, (203, 8, 8, 1), dtype=np.uint8)
    acts = capture(model, variables, images, ["relu2"], batch_size=64, progress=False)["relu2"]
    feats = similarity.colour.featurize(images.astype(np.float32) / 255, None)
    ii = interpretability_index_all(acts[:200], similarity.colour, feats[:200])
    np.testing.assert_allclose(sharded["acts"], acts, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sharded["ii"], ii, rtol=1e-5, atol=1e-6)
