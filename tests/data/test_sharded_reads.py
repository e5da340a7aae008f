"""Sharded reads: 2 processes on loopback (jax.distributed, gloo), 2 CPU devices each, stream one
folder: each decodes only its own rows of each batch (no image twice, none missed) and both get
every image's result back, in order."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import json, sys
    import jax
    from jaxinterp.parallel import distributed
    folder, port, pid, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    assert distributed.initialize(f"127.0.0.1:{port}", 2, pid)
    from jaxinterp import stream
    from jaxinterp.data import open_data
    from jaxinterp.data.sources import EncodedImages

    decoded = []
    read = EncodedImages.read
    EncodedImages.read = lambda self, i: decoded.append(self.name(i)) or read(self, i)

    def first_pixel(params, images01):
        return images01[:, 0, 0, 0]

    source = open_data(folder)
    mesh = distributed.global_mesh()
    assert mesh.size == 4 and distributed.spans_processes(mesh)
    values = stream.stream_map(first_pixel, {}, source, batch_size=8, mesh=mesh)
    first = list(decoded)
    decoded.clear()  # 18 images: process 1 has no row in the last batch
    values18 = stream.stream_map(first_pixel, {}, source.take(18), batch_size=8, mesh=mesh)
    names = [source.name(i) for i in range(source.num_images)]
    json.dump({"decoded": first, "values": [round(float(v) * 255) for v in values], "names": names,
               "decoded18": list(decoded), "values18": [round(float(v) * 255) for v in values18]},
              open(out, "w"))
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_each_read_their_half(tmp_path):
    n = 21  # batches of 8 over 4 devices: rows 0-3 in process 0, 4-7 in process 1; a ragged last batch
    for i in range(n):
        folder = tmp_path / "data" / f"class{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (10 * i, 0, 0)).save(folder / f"{i:02d}.png")
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=2")
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "data"), str(port), str(pid),
                               str(tmp_path / f"{pid}.json")], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for pid in range(2)]
    for p in procs:
        try:
            _, err = p.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        assert p.returncode == 0, err[-3000:]
    runs = [json.loads((tmp_path / f"{pid}.json").read_text()) for pid in range(2)]
    names = runs[0]["names"]  # read order: class0/00, 03, ..., class1/01, ...
    expected = [10 * int(Path(name).stem) for name in names]
    decoded = [sorted(names.index(f) for f in run["decoded"]) for run in runs]
    assert decoded[0] == [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19]
    assert decoded[1] == [4, 5, 6, 7, 12, 13, 14, 15, 20]  # no image twice, none missed
    for run in runs:
        assert run["values"] == expected  # every process gets every image's result, in order
        assert run["values18"] == expected[:18]
    assert sorted(np.concatenate(decoded).tolist()) == list(range(n))
    decoded18 = [sorted(names.index(f) for f in run["decoded18"]) for run in runs]
    assert decoded18 == [[0, 1, 2, 3, 8, 9, 10, 11, 16, 17], [4, 5, 6, 7, 12, 13, 14, 15]]
