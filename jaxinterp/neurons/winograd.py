"""3×3 'same' convolution by Winograd's minimal filtering F(2×2, 3×3).

A 3×3 stride-1 convolution computes each 2×2 output tile from a 4×4 input
tile. Winograd (Lavin & Gray, 2016) does it with 16 products per channel pair
instead of 36:

    Y = Aᵀ [(G w Gᵀ) ⊙ (Bᵀ d B)] A,

so a C→K convolution becomes 16 GEMMs [tiles, C] × [C, K] between two cheap
linear transforms: 2.25× fewer multiply-adds than the direct method. On the
2-core development CPU XLA's direct convolution reaches about 110 GFLOP/s;
this one, on batches of 8 images of 32×32×64 inside ``lax.map``, about 180
direct-equivalent GFLOP/s (``bench/RESULTS.md``, roles). F(2×2, 3×3) is
accurate in float32 (relative error ≈ 5e-7 against ``lax.conv``); the larger
F(4×4, 3×3) saves more multiplies but was slower here and 4× less accurate.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# correlation y[i] = Σ_t d[i + t] w[t], i ∈ {0, 1}, t ∈ {0, 1, 2}
_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32)
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)


def _input_transform(planes):
    """Bᵀ d along one axis, written out: the 4 tile rows -> the 4 transformed rows."""
    d0, d1, d2, d3 = planes
    return [d0 - d2, d1 + d2, d2 - d1, d1 - d3]


def _output_transform(planes):
    """Aᵀ m along one axis: 4 transformed rows -> the 2 output rows."""
    m0, m1, m2, m3 = planes
    return [m0 + m1 + m2, m1 - m2 - m3]


def kernel_transform(w: jax.Array) -> jax.Array:
    """[3, 3, C, K] kernel -> [16, C, K], the G w Gᵀ of every channel pair (reusable across calls)."""
    if w.shape[:2] != (3, 3):
        raise ValueError(f"Winograd F(2x2, 3x3) needs a 3x3 kernel [3, 3, C, K]; got shape {tuple(w.shape)}")
    g = jnp.asarray(_G, w.dtype)
    return jnp.einsum("xa,abck,yb->xyck", g, w, g).reshape(16, *w.shape[2:])


def conv3x3(x: jax.Array, w: jax.Array) -> jax.Array:
    """'same' 3×3 stride-1 correlation, equal to ``lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)))``.

    Args:
      x: [n, H, W, C] (NHWC); any H, W (odd sizes are padded to even and cropped).
      w: [3, 3, C, K] (HWIO).

    Returns:
      [n, H, W, K].
    """
    if x.ndim != 4 or w.ndim != 4 or x.shape[-1] != w.shape[2]:
        raise ValueError(f"conv3x3 expects x [n, H, W, C] and w [3, 3, C, K] with matching C; "
                         f"got x {tuple(x.shape)} and w {tuple(w.shape)}")
    n, h, wd, _ = x.shape
    th, tw = -(-h // 2), -(-wd // 2)
    xp = jnp.pad(x, ((0, 0), (1, 1 + 2 * th - h), (1, 1 + 2 * tw - wd), (0, 0)))
    rows = _input_transform([xp[:, a : a + 2 * th : 2] for a in range(4)])  # 4 × [n, th, W', C]
    v = [c for r in rows for c in _input_transform([r[:, :, b : b + 2 * tw : 2] for b in range(4)])]
    v = jnp.stack(v).reshape(16, n * th * tw, -1)  # [16, tiles, C]
    m = jnp.einsum("xtc,xck->xtk", v, kernel_transform(w)).reshape(4, 4, n, th, tw, -1)
    y = [_output_transform(list(r)) for r in _output_transform(list(m))]  # y[i][j]: [n, th, tw, K]
    y = jnp.stack([jnp.stack(row, 3) for row in y], 2)  # [n, th, 2 (i), tw, 2 (j), K]
    return y.reshape(n, 2 * th, 2 * tw, -1)[:, :h, :wd]
