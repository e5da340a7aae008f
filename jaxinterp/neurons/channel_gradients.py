"""Input gradients of every channel's spatial mean for conv-BN-ReLU ResNet stages, fast.

∂(mean over positions of channel c)/∂x for all channels c and images, the
quantity behind saliency maps (METHODS.md §5.2), for a stem (3×3 conv, BN,
ReLU) followed by identity basic blocks (``relu(bn2(conv2(relu(bn1(conv1 s)))) + s)``),
as the CIFAR ResNets' ``layer1``. Autodiff of the generic model
(:func:`~jaxinterp.neurons.saliency.input_gradients`) does one full backward
pass per (image, channel); this kernel uses the objective's structure:

* the forward pass runs once per image; ReLU masks and the BN scales (eval
  mode: BN is a per-channel affine map) are all the backward pass needs;
* the cotangent of channel c at the output is 1/(hw) on channel c only, so the
  last conv's backward is a single-channel correlation with ``W[..., c]``
  (9·C multiply-adds per position instead of 9·C²);
* every other backward conv is one NHWC convolution with the flipped kernel
  over a batch of (image × channel) cotangents, chunked with ``lax.map``; on
  CPU it is Winograd's F(2×2, 3×3) (:mod:`jaxinterp.neurons.winograd`, 2.25×
  fewer multiply-adds) over chunks of 8 pairs, small enough to stay in cache.

About a fifth of the multiply-adds of a generic backward pass. Checked against
``jax.vjp`` of the Flax model in ``tests/neurons/test_channel_gradients.py``.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from jaxinterp.neurons import winograd
from jaxinterp.parallel import split_rows

_DN = ("NHWC", "HWIO", "NHWC")


class ConvBN(NamedTuple):
    """A 3×3 stride-1 padding-1 conv without bias followed by eval-mode BN folded to scale·z + shift.

    kernel [3, 3, c_in, c_out]; scale, shift [c_out].
    """

    kernel: jax.Array
    scale: jax.Array
    shift: jax.Array


class Block(NamedTuple):
    """An identity basic block: relu(bn2(conv2(relu(bn1(conv1 s)))) + s)."""

    conv1: ConvBN
    conv2: ConvBN


def fold_bn(kernel, bn_params, bn_stats, eps: float = 1e-5) -> ConvBN:
    """A Flax conv kernel and BatchNorm ``params``/``batch_stats`` -> :class:`ConvBN`."""
    scale = bn_params["scale"] / jnp.sqrt(bn_stats["var"] + eps)
    return ConvBN(jnp.asarray(kernel), scale, bn_params["bias"] - bn_stats["mean"] * scale)


def from_variables(variables, stem: tuple[str, str] = ("conv1", "bn1"),
                   blocks: Sequence[str] = ("layer1.0",), eps: float = 1e-5) -> tuple[ConvBN, tuple[Block, ...]]:
    """Read a stem and identity blocks from PyTorch-named Flax variables (``layer1.0`` = ``layer1/0``)."""
    p, s = variables["params"], variables["batch_stats"]

    def get(tree, dotted):
        for part in dotted.split("."):
            tree = tree[part]
        return tree

    def convbn(prefix, conv, bn):
        pre = f"{prefix}." if prefix else ""
        return fold_bn(get(p, pre + conv)["kernel"], get(p, pre + bn), get(s, pre + bn), eps)

    stem_ = convbn("", *stem)
    blocks_ = tuple(Block(convbn(b, "conv1", "bn1"), convbn(b, "conv2", "bn2")) for b in blocks)
    for i, b in enumerate(blocks_):
        if b.conv1.kernel.shape[2] != b.conv2.kernel.shape[3]:
            raise ValueError(f"block {blocks[i]!r} is not an identity block (channels change)")
    return stem_, blocks_


def _conv(x, w):
    return jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=_DN)


DENSE_CONVS = ("winograd", "direct")


def _conv_input_grad(ct, w, dense_conv: str = "direct"):
    """Cotangent of a 3×3 'same' conv's input: a conv with the flipped, transposed kernel.

    For many input channels it is that convolution, by Winograd or by XLA
    (``dense_conv``). For few (the RGB stem) XLA's convolution with 3 output
    channels is slow; there it is one GEMM [pixels, c_out] × [c_out, 9·c_in]
    followed by adding up the 9 shifted tap planes (col2im), about twice as fast.
    """
    c_in = w.shape[2]
    if c_in > 8:
        conv = winograd.conv3x3 if dense_conv == "winograd" else _conv
        return conv(ct, jnp.flip(w, (0, 1)).transpose(0, 1, 3, 2))
    n, h, wd, c_out = ct.shape
    taps = (ct.reshape(-1, c_out) @ w.reshape(9 * c_in, c_out).T).reshape(n, h, wd, 9, c_in)
    taps = jnp.pad(taps, ((0, 0), (1, 1), (1, 1), (0, 0), (0, 0)))
    # input (i, j) receives ct(i - dy + 1, j - dx + 1) · W[dy, dx]
    return sum(taps[:, 2 - dy : 2 - dy + h, 2 - dx : 2 - dx + wd, 3 * dy + dx]
               for dy in range(3) for dx in range(3))


def _channels(v):
    """[c] per-channel BN scale or shift -> [1, 1, 1, c], against NHWC maps."""
    return v[None, None, None, :]


def _forward(stem: ConvBN, blocks, x):
    """Masks of every ReLU: stem [n,h,w,c], per block (inner, outer)."""
    a = _conv(x, stem.kernel) * _channels(stem.scale) + _channels(stem.shift)
    masks = [a > 0]
    s = jnp.maximum(a, 0)
    for b in blocks:
        h = _conv(s, b.conv1.kernel) * _channels(b.conv1.scale) + _channels(b.conv1.shift)
        inner = h > 0
        o = (_conv(jnp.maximum(h, 0), b.conv2.kernel) * _channels(b.conv2.scale)
             + _channels(b.conv2.shift) + s)
        masks += [inner, o > 0]
        s = jnp.maximum(o, 0)
    return masks


def _one_channel_input_grad(d, w_c):
    """d [p, h, w] single-channel cotangents, w_c [p, 3, 3, c_in] per-pair kernels -> [p, h, w, c_in]."""
    h, w = d.shape[1:]
    dp = jnp.pad(d, ((0, 0), (1, 1), (1, 1)))[..., None]
    # input (i, j) receives d(i - dy + 1, j - dx + 1) · W[dy, dx]; 9 broadcast products that
    # XLA fuses into one pass (a batched matmul with 9-long rows is slower)
    return sum(dp[:, 2 - dy : 2 - dy + h, 2 - dx : 2 - dx + w] * w_c[:, None, None, dy, dx, :]
               for dy in range(3) for dx in range(3))


def channel_mean_gradients(stem: ConvBN, blocks: tuple[Block, ...], images: jax.Array,
                           chunk: int | None = None, dense_conv: str | None = None,
                           mesh: Mesh | None = None) -> jax.Array:
    """∂ mean_{h,w} out[h, w, c] / ∂ images for every image and output channel c.

    Args:
      stem: the stem conv + BN (followed by ReLU).
      blocks: one or more identity basic blocks after it.
      images: [n, H, W, C_in] normalised images (NHWC).
      chunk: (image, channel) pairs per backward batch (memory ~ chunk·H·W·C·4 bytes × a few).
        Default: 8 on CPU (fits the caches; 2× faster than 256 there), 256 on accelerators.
      dense_conv: ``"winograd"`` or ``"direct"`` (XLA's convolution) for the 64→64-style
        backward convolutions. Default: Winograd on CPU, direct elsewhere (cuDNN and
        friends choose their own algorithm).
      mesh: a 1-D ``"data"`` mesh; images are split over it (padded to a multiple of its
        size) and every device computes its own images' gradients. Default: all local
        devices (:func:`jaxinterp.parallel.local_mesh`).

    Returns:
      [n, C, H, W, C_in] gradients.
    """
    if not blocks:
        raise ValueError("channel_mean_gradients needs at least one block after the stem")
    cpu = jax.default_backend() == "cpu"
    chunk = (8 if cpu else 256) if chunk is None else int(chunk)
    dense_conv = ("winograd" if cpu else "direct") if dense_conv is None else dense_conv
    if dense_conv not in DENSE_CONVS:
        raise ValueError(f"dense_conv must be one of {DENSE_CONVS}; got {dense_conv!r}")
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of (image, channel) pairs; got {chunk}")
    return split_rows(_kernel, mesh, chunk=chunk, dense_conv=dense_conv)(images, stem, tuple(blocks))


def _kernel(images, stem, blocks, chunk, dense_conv):
    n, hh, ww, _ = images.shape
    masks = _forward(stem, blocks, images)
    c_out = blocks[-1].conv2.kernel.shape[-1]
    pairs = jnp.stack(jnp.meshgrid(jnp.arange(n), jnp.arange(c_out), indexing="ij"), -1).reshape(-1, 2)
    last = blocks[-1]

    def backward(pair):  # pair [p, 2] = (image, channel)
        b, c = pair[:, 0], pair[:, 1]
        outer = masks[-1][b, :, :, c]  # [p, h, w], last block's output ReLU
        d = outer.astype(images.dtype) / (hh * ww)
        # last conv: single-channel cotangent, kernel column W2[..., c] scaled by BN
        g = _one_channel_input_grad(d * last.conv2.scale[c][:, None, None],
                                    jnp.moveaxis(last.conv2.kernel[..., c], -1, 0))
        mask = lambda i: masks[i][b].astype(d.dtype)  # [p, h, w, c] ReLU gate as 0/1
        g = g * mask(-2) * _channels(last.conv1.scale)
        s = _conv_input_grad(g, last.conv1.kernel, dense_conv)
        s = s + jax.nn.one_hot(c, c_out, dtype=d.dtype)[:, None, None, :] * d[..., None]
        for i in range(len(blocks) - 2, -1, -1):  # earlier blocks: dense backward
            blk = blocks[i]
            o = s * mask(2 + 2 * i)
            g = (_conv_input_grad(o * _channels(blk.conv2.scale), blk.conv2.kernel, dense_conv)
                 * mask(1 + 2 * i))
            s = o + _conv_input_grad(g * _channels(blk.conv1.scale), blk.conv1.kernel, dense_conv)
        z = s * mask(0) * _channels(stem.scale)
        return _conv_input_grad(z, stem.kernel)

    p = pairs.shape[0]
    size = min(chunk, p)
    n_chunks = -(-p // size)
    padded = jnp.concatenate([pairs, jnp.zeros((n_chunks * size - p, 2), pairs.dtype)])
    out = jax.lax.map(backward, padded.reshape(n_chunks, size, 2))
    return out.reshape(-1, hh, ww, images.shape[-1])[:p].reshape(n, c_out, hh, ww, -1)
