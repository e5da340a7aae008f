"""capture and II on 8 forced CPU devices equal the single-device results."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np

from jaxinterp import models, similarity
from jaxinterp.capture import capture
from jaxinterp.scores import interpretability_index_all

REPO = Path(__file__).resolve().parents[2]

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
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))
    out = tmp_path / "sharded.npz"
    subprocess.run([sys.executable, "-c", SCRIPT, str(out)], check=True, env=env, cwd=REPO)
    sharded = np.load(out)

    model = models.get("small_cnn")
    variables = models.init(model, jax.random.key(0))
    images = np.random.default_rng(0).integers(0, 256, (203, 8, 8, 1), dtype=np.uint8)
    acts = capture(model, variables, images, ["relu2"], batch_size=64, progress=False)["relu2"]
    feats = similarity.colour.featurize(images.astype(np.float32) / 255, None)
    ii = interpretability_index_all(acts[:200], similarity.colour, feats[:200])
    np.testing.assert_allclose(sharded["acts"], acts, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sharded["ii"], ii, rtol=1e-5, atol=1e-6)
