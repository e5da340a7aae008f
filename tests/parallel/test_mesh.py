"""The sharding helpers on 8 forced CPU devices: where each row lands, padding, replication."""

from __future__ import annotations

import numpy as np

from jaxinterp import parallel
from tests.eight_devices import run_on_eight_devices

CODE = r"""
import sys
import numpy as np
from jaxinterp import parallel as p

mesh = p.local_mesh()
x = np.arange(30, dtype=np.float32).reshape(10, 3)
xs, w = p.shard_samples(x, mesh)
out = {"devices": p.n_devices(), "axis": np.array(mesh.axis_names), "xs": np.asarray(xs), "w": np.asarray(w),
       "xs_rows": [s.data.shape[0] for s in xs.addressable_shards],
       "xs_first": [s.index[0].start for s in xs.addressable_shards]}
spec = p.batch_sharding(mesh, 3).spec
out["spec"] = np.array([str(s) for s in spec])
out["replicated_spec"] = np.array(len(p.replicated(mesh).spec))
r = p.replicate({"a": x}, mesh)["a"]
out["replica_rows"] = [s.data.shape[0] for s in r.addressable_shards]
out["replica_devices"] = len(r.sharding.device_set)
even = p.maybe_shard_batch(np.ones((16, 2), np.float32), mesh)
odd = p.maybe_shard_batch(np.ones((10, 2), np.float32), mesh)
out["even_rows"] = [s.data.shape[0] for s in even.addressable_shards]
out["odd_devices"] = len(odd.sharding.device_set)
np.savez(sys.argv[1], **out)
"""


def test_helpers_on_eight_devices(tmp_path):
    got = run_on_eight_devices(CODE, tmp_path / "mesh.npz")
    assert int(got["devices"]) == 8 and got["axis"].tolist() == [parallel.AXIS]
    # 10 rows pad to 16 (two a device), with zero rows of weight 0 at the end
    np.testing.assert_array_equal(got["xs"], np.r_[np.arange(30.0).reshape(10, 3), np.zeros((6, 3))])
    np.testing.assert_array_equal(got["w"], [1.0] * 10 + [0.0] * 6)
    assert got["xs_rows"].tolist() == [2] * 8 and sorted(got["xs_first"].tolist()) == list(range(0, 16, 2))
    assert got["spec"].tolist() == [parallel.AXIS, "None", "None"] and int(got["replicated_spec"]) == 0
    assert got["replica_rows"].tolist() == [10] * 8 and int(got["replica_devices"]) == 8
    assert got["even_rows"].tolist() == [2] * 8 and int(got["odd_devices"]) == 1  # 10 rows stay whole


def test_helpers_on_one_device_move_nothing():
    assert [parallel.round_up(n, 4) for n in (0, 1, 4, 5, 8)] == [0, 4, 4, 8, 8]
    assert parallel.n_devices() == len(parallel.local_mesh().devices.ravel())
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    xs, w = parallel.shard_samples(x, parallel.local_mesh([parallel.local_mesh().devices.ravel()[0]]))
    np.testing.assert_array_equal(xs, x)
    np.testing.assert_array_equal(w, [1, 1, 1])
