"""The blockwise similarity drivers on 8 forced CPU devices equal one device."""

import numpy as np

from jaxinterp import similarity as sim
from tests.eight_devices import run_on_eight_devices

SCRIPT = """
import sys
import jax, numpy as np
from jaxinterp import parallel, similarity as sim
assert jax.device_count() == 8, jax.devices()
one = parallel.local_mesh(jax.devices()[:1])
images = np.random.default_rng(0).uniform(size=(37, 6, 6, 3)).astype(np.float32)  # 37: padded to 40
pairs = np.random.default_rng(1).integers(0, 37, (53, 2))
out = {}
for name in ("l2", "colour"):
    metric = sim.get(name)
    feats = metric.featurize(images, None)
    for tag, mesh in (("eight", None), ("one", one)):
        S = sim.all_pairs(metric, feats, block=4, mesh=mesh)
        if tag == "eight":
            assert len(S.sharding.device_set) == 8, S.sharding
        out[f"{name}_all_{tag}"] = np.asarray(S)
        out[f"{name}_ab_{tag}"] = np.asarray(sim.matrix_blocked(metric, feats, sim.take(feats, np.arange(5)), mesh=mesh))
        out[f"{name}_pairs_{tag}"] = np.asarray(sim.pair_values(metric, feats, pairs, block=7, mesh=mesh))
        s, i = sim.nearest_neighbours(metric, feats, 4, block=8, mesh=mesh)
        out[f"{name}_nns_{tag}"], out[f"{name}_nni_{tag}"] = np.asarray(s), np.asarray(i)
np.savez(sys.argv[1], **out)
"""


def test_eight_devices_equal_one(tmp_path):
    got = run_on_eight_devices(SCRIPT, tmp_path / "sim.npz")
    images = np.random.default_rng(0).uniform(size=(37, 6, 6, 3)).astype(np.float32)
    pairs = np.random.default_rng(1).integers(0, 37, (53, 2))
    for name in ("l2", "colour"):
        metric = sim.get(name)
        feats = metric.featurize(images, None)
        for what in ("all", "ab", "pairs", "nns", "nni"):
            np.testing.assert_allclose(got[f"{name}_{what}_eight"], got[f"{name}_{what}_one"], rtol=1e-5, atol=1e-6)
        # and this process (one device) agrees with the full matrix
        np.testing.assert_allclose(got[f"{name}_all_eight"], np.asarray(sim.all_pairs(metric, feats)), rtol=1e-5, atol=1e-6)
        full = np.array(got[f"{name}_all_one"])
        np.testing.assert_allclose(got[f"{name}_pairs_eight"], full[pairs[:, 0], pairs[:, 1]], rtol=1e-4, atol=1e-5)
        np.fill_diagonal(full, -np.inf)
        np.testing.assert_array_equal(got[f"{name}_nni_eight"], np.argsort(-full, axis=1, kind="stable")[:, :4])
