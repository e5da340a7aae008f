"""Fig. 9's SAE sweep: each grid cell is the mean II of that SAE's live codes."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp import similarity
from jaxinterp.directions import kmeans, sae
from jaxinterp.recipes.paper import sae_sweep
from jaxinterp.scores import interpretability_index_all


def test_grid_cells_equal_direct_fits(rng):
    acts = np.abs(rng.normal(size=(80, 4))).astype(np.float32)
    images = rng.random((80, 4, 4, 3)).astype(np.float32)
    feats = similarity.colour.featurize(images, None)
    key = jax.random.key(3)
    out = sae_sweep(key, acts, similarity.colour, feats, ratios=(0.5, 2.0), l1_coeffs=(1e-2,),
                    steps=20, log=lambda s: None)
    assert out["sae_ii"].shape == (2, 1)

    unit = kmeans.unit_rows(jnp.asarray(acts))
    z = (unit - unit.mean(0, keepdims=True)) / jnp.maximum(unit.std(0, keepdims=True), 1e-6)
    for i, size in enumerate((2, 8)):
        state = sae.fit(jax.random.fold_in(key, i), z, size, l1_coeff=1e-2, batch_size=80, max_steps=20)
        codes = np.asarray(sae.transform(state, z))
        live = codes.max(0) > 0
        assert out["sae_alive"][i, 0] == live.mean()
        expected = np.mean(np.asarray(interpretability_index_all(codes[:, live], similarity.colour, feats)))
        np.testing.assert_allclose(out["sae_ii"][i, 0], expected, rtol=1e-5)
