"""data_memory: peak memory of ``capture`` over a folder of JPEGs stays flat in the number of images.

GoogLeNet (zero weights) up to ``maxpool1`` (spatial mean: [n, 64] kept) over folders of 10,000 and
50,000 224-px JPEGs (``bench.data.jpeg_folder``: written once under /tmp), each pass in a fresh
subprocess that reports its peak resident memory (``ru_maxrss``). Decoded images live only in
grain's bounded read-ahead buffer and one batch, so the two peaks should agree within 10%; what
grows with n is the [n, 64] float32 result (10 MB more at 50,000) and the file list.
``--quick``: 1,000 and 5,000 images.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.data import jpeg_folder

SCRIPT = """
import json, resource, sys, time
import numpy as np
from bench.data import LAYER, zero_googlenet
from jaxinterp.capture import capture
from jaxinterp.data import open_data

model, variables = zero_googlenet()
source = open_data(sys.argv[1], preprocess=model.PREPROCESS)
start = time.perf_counter()
acts = capture(model, variables, source, [LAYER], batch_size=int(sys.argv[2]), progress=False)[LAYER]
seconds = time.perf_counter() - start
assert acts.shape == (source.num_images, 64) and np.isfinite(acts).all()
print(json.dumps({"images": source.num_images, "seconds": round(seconds, 1),
                  "images_per_s": round(source.num_images / seconds, 1),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "decode_threads": source.threads}))
"""


def run(quick: bool = False) -> None:
    sizes, batch = ((1_000, 5_000) if quick else (10_000, 50_000)), 64
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(repo))
    peaks = []
    for n in sizes:
        folder = jpeg_folder(n)
        proc = subprocess.run([sys.executable, "-c", SCRIPT, str(folder), str(batch)], cwd=repo, env=env,
                              capture_output=True, text=True, check=False)
        if proc.returncode:
            raise RuntimeError(proc.stderr[-3000:])
        record = {"name": "data_memory: capture googlenet maxpool1 over a JPEG folder", "batch": batch,
                  "load_average": round(os.getloadavg()[0], 2), **json.loads(proc.stdout.splitlines()[-1])}
        print(json.dumps(record), flush=True)
        peaks.append(record["peak_rss_mb"])
    print(json.dumps({"name": "data_memory: peak RSS ratio", "sizes": list(sizes),
                      "peak_rss_mb": peaks, "ratio": round(peaks[1] / peaks[0], 3)}), flush=True)
