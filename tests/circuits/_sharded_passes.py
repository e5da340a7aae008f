"""Every streamed pass of the circuits analyses and the featvis statistics, saved to one .npz.

``python -m tests.circuits._sharded_passes OUT DATA`` runs them on whatever devices the process
has (tests/circuits/test_sharding.py runs it on 8 forced CPU devices and compares the arrays
with the same function run in the test process, on 1 device).
"""

from __future__ import annotations

import sys

import numpy as np

LAYER, UNITS = "relu2", (5, 0, 17)


def passes(data: str) -> dict[str, np.ndarray]:
    from jaxinterp import steps
    from jaxinterp.circuits import examples, tuning
    from jaxinterp.recipes.featvis import StatsConfig, _stats

    spec = steps.model_spec("small_cnn_rgb", "random:0")
    model, variables = steps.load_model(spec)
    images = np.load(data)["images"]                                                 # [21, 32, 32, 3] uint8
    kw = {"batch_size": 16}
    out = {}
    top = examples.top_positions(model, variables, LAYER, images, k=4, **kw)
    best = examples.image_maxima(model, variables, LAYER, images, units=UNITS, **kw)
    pre = examples.preactivation_summary(model, variables, LAYER, images, units=UNITS, bins=8, fine_bins=64, **kw)
    mean, sd = tuning.activation_stats(model, variables, LAYER, images, **kw)
    r = tuning.responses(model, variables, LAYER, images, units=UNITS, position="mean", **kw)
    angles = np.arange(0.0, 360.0, 60.0)
    rot = tuning.rotation_tuning(model, variables, LAYER, images[:9], angles, units=UNITS, batch=24)
    own = examples.exemplar_rotation_tuning(model, variables, LAYER, images[:6].reshape(3, 2, 32, 32, 3) / 255.0,
                                            angles, UNITS, stats=(mean, sd), batch=12)
    fv = _stats(None, StatsConfig(spec, steps.data_spec(data), LAYER, (3, 9), exemplars=3, batch_size=16))
    out.update({f"top_{k}": v for k, v in top._asdict().items()})
    out.update({f"best_{k}": v for k, v in best._asdict().items()})
    out.update({f"pre_{k}": v for k, v in pre.items()})
    out.update(mean=mean, sd=sd, responses=r, rotation=rot, own_rotation=own)
    out.update({f"featvis_{k}": v for k, v in fv.arrays.items()})
    return {k: np.asarray(v) for k, v in out.items()}


if __name__ == "__main__":
    import jax

    assert jax.device_count() == 8, jax.devices()
    np.savez(sys.argv[1], **passes(sys.argv[2]))
