"""data: images per second from a folder of JPEGs to activations, jaxinterp vs PyTorch's DataLoader.

Both read the same folder of 224-px JPEGs (the CIFAR-10 test images upscaled, one subfolder per
class, made once under /tmp), decode with Pillow, resize the shorter side to 256 and cut the
centre 224 (torchvision's evaluation transforms), and run GoogLeNet up to ``maxpool1``, keeping its
spatial mean per image:

* jaxinterp: ``capture(googlenet, variables, open_data(folder, preprocess=...), ["maxpool1"])``:
  grain decoding threads read ahead of the device; the door stops the forward pass at the layer.
* peer: ``DataLoader(ImageFolder(folder, Resize(256), CenterCrop(224), ToTensor, Normalize),
  num_workers=2)`` and torchvision's own ``googlenet`` class, stopped at ``maxpool1`` by a forward
  hook that raises (so neither computes past the layer).

Random weights for both (only the time is compared). Each reports the fraction of the pass it
spent waiting for the next batch (the device idles then unless the previous batch still runs)
and, for jaxinterp, 1 - (time of the same compiled steps on batches already decoded) / (wall
time): the share of the pass the device had no work.
"""

from __future__ import annotations

import io
import sys
import time
import types
from pathlib import Path

import numpy as np

from bench._harness import emit, shared_data

ROOT = Path("/tmp/jaxinterp-bench/jpeg224")
LAYER = "maxpool1"


def jpeg_folder(n: int, root: Path = ROOT) -> Path:
    """``root/n{n}/<label>/<k>.jpg``: ``n`` 224x224 JPEGs (quality 90) of the CIFAR-10 test images
    upscaled (bicubic) and repeated, or of smooth random images where the CIFAR file is absent.
    Written once (a marker file says the folder is whole)."""
    from PIL import Image

    folder = root / f"n{n}"
    if (folder / ".complete").exists():
        return folder
    cifar = shared_data() / "cifar10" / "test_first932.npz"
    if cifar.exists():
        with np.load(cifar) as f:
            images, labels = f["images"], f["labels"]
    else:
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (256, 8, 8, 3), dtype=np.uint8).repeat(4, 1).repeat(4, 2)
        labels = rng.integers(0, 10, 256)
    encoded = []
    for image in images:
        buf = io.BytesIO()
        Image.fromarray(image).resize((224, 224), Image.BICUBIC).save(buf, "JPEG", quality=90)
        encoded.append(buf.getvalue())
    for k in range(n):
        j = k % len(images)
        out = folder / f"class{labels[j]}" / f"{k:06d}.jpg"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(encoded[j])
    (folder / ".complete").touch()
    return folder


def zero_googlenet():
    """GoogLeNet with all-zero weights (shapes by ``jax.eval_shape``: no initialisation cost)."""
    import jax
    import jax.numpy as jnp

    from jaxinterp import models

    model = models.get("googlenet")
    shapes = jax.eval_shape(lambda k: models.init(model, k), jax.random.key(0))
    return model, jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


class Timed:
    """A source that counts the seconds its consumer waits in ``next()`` for a batch."""

    def __init__(self, source):
        self.source, self.waited = source, 0.0
        self.image_shape, self.dtype, self.num_images = source.image_shape, source.dtype, source.num_images

    def batches(self, batch_size, start=0, rows=None):
        it = self.source.batches(batch_size, start, rows)
        while True:
            t = time.perf_counter()
            batch = next(it, None)
            self.waited += time.perf_counter() - t
            if batch is None:
                return
            yield batch


def ours(folder: Path, batch: int) -> dict:
    import jax

    from jaxinterp import stream
    from jaxinterp.capture import capture
    from jaxinterp.data import open_data

    model, variables = zero_googlenet()
    source = open_data(folder, preprocess=model.PREPROCESS)
    capture(model, variables, source.take(batch), [LAYER], batch_size=batch, progress=False)  # compile
    timed = Timed(source)
    start = time.perf_counter()
    acts = capture(model, variables, timed, [LAYER], batch_size=batch, progress=False)[LAYER]
    wall = time.perf_counter() - start
    # the same compiled step on batches already in memory: the device's share of the pass
    fn = stream.Taps(model, (LAYER,), "mean")
    decoded = next(source.batches(batch))
    step = lambda: stream.stream_map(fn, variables, [decoded] * 4, stream.collect(), batch_size=batch)  # noqa: E731
    step()
    t = time.perf_counter()
    jax.block_until_ready(step())
    compute = (time.perf_counter() - t) / 4 * (source.num_images / batch)
    return {"seconds": wall, "acts": acts, "waiting": timed.waited / wall,
            "idle": max(0.0, 1 - compute / wall), "threads": source.threads}


def peer(folder: Path, batch: int, workers: int = 2) -> dict:
    stub = "torchvision._meta_registrations"  # torchvision's compiled ops target CUDA torch: skip them
    sys.modules.setdefault(stub, types.ModuleType(stub))
    import torch
    import torchvision
    from torchvision import datasets, transforms

    net = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False,
                                       transform_input=False).eval()
    for p in net.parameters():
        torch.nn.init.zeros_(p)

    class Stop(Exception):
        pass

    def stop(module, inputs, output):
        raise Stop(output)

    net.maxpool1.register_forward_hook(stop)
    tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                             transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    loader = torch.utils.data.DataLoader(datasets.ImageFolder(str(folder), tf), batch_size=batch,
                                         num_workers=workers, shuffle=False)

    @torch.inference_mode()
    def forward(x):
        try:
            net(x)
        except Stop as s:
            return s.args[0].mean((2, 3))

    forward(torch.zeros(2, 3, 224, 224))  # warm up
    outs, waited = [], 0.0
    start = time.perf_counter()
    it = iter(loader)
    while True:
        t = time.perf_counter()
        item = next(it, None)
        waited += time.perf_counter() - t
        if item is None:
            break
        outs.append(forward(item[0]))
    wall = time.perf_counter() - start
    return {"seconds": wall, "acts": torch.cat(outs).numpy(), "waiting": waited / wall,
            "threads": torch.get_num_threads()}


def run(quick: bool = False) -> None:
    import os

    n, batch = (256, 64) if quick else (2048, 64)
    folder = jpeg_folder(n)
    # the peer first: its DataLoader forks worker processes, which must happen before XLA starts
    # its threads in this process (a fork after that may deadlock)
    b = peer(folder, batch)
    a = ours(folder, batch)
    assert a["acts"].shape == b["acts"].shape == (n, 64), (a["acts"].shape, b["acts"].shape)
    emit("data: JPEG folder -> googlenet maxpool1 (spatial mean)", [n, 224, 224, 3], a["seconds"],
         "torch DataLoader(2 workers) + torchvision googlenet", b["seconds"],
         images_per_s=round(n / a["seconds"], 1), peer_images_per_s=round(n / b["seconds"], 1),
         waiting_for_data=round(a["waiting"], 3), device_idle=round(a["idle"], 3),
         peer_waiting_for_data=round(b["waiting"], 3), decode_threads=a["threads"],
         peer_torch_threads=b["threads"], batch=batch, load_average=round(os.getloadavg()[0], 2))
