"""Tuning curves: rotate against a per-pixel numpy bilinear rotation, rotation_tuning against a
per-angle loop, planted orientations recovered from a hand-built Gabor network, preferred
orientation and joint tuning on synthetic bumps, and bad input."""

from __future__ import annotations

import math
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.circuits import tuning
from jaxinterp.data import stimuli
from jaxinterp.models.base import ImageModel
from tests.flax_reference import forward

SIZE = 17                                  # odd: the image centre is the centre pixel (8, 8)
BUILT = np.array([0.0, 35.0, 80.0, 125.0])  # the Gabor family's orientations (degrees)


# ---- a network built by hand ----------------------------------------------------------------


def gabor(theta, k=11, along=3.0, across=1.5, freq=0.25):
    """[k, k] even Gabor whose stripes run along theta (x right, y up), elongated, zero mean."""
    c = (k - 1) / 2
    rows, cols = np.mgrid[0:k, 0:k].astype(np.float64)
    x, y = cols - c, c - rows
    t = math.radians(theta)
    u, w = math.cos(t) * x + math.sin(t) * y, -math.sin(t) * x + math.cos(t) * y
    g = np.exp(-u * u / (2 * along**2) - w * w / (2 * across**2)) * np.cos(2 * np.pi * freq * w)
    return g - g.mean()


class GaborNet(ImageModel):
    """One 11x11 conv ``conv1`` whose channel i is a line/grating detector at BUILT[i]."""

    INPUT_SIZE: ClassVar[int] = SIZE
    features: int = len(BUILT)

    @nn.compact
    def __call__(self, x, train=False):
        return nn.Conv(self.features, (11, 11), padding="SAME", use_bias=False, name="conv1")(x)


@pytest.fixture(scope="module")
def net():
    model = GaborNet()
    # dark lines on white: the detector is minus the Gabor (its dark centre stripe), per channel/3
    k = np.stack([-gabor(t) for t in BUILT], -1)[:, :, None, :].repeat(3, 2) / 3.0
    return model, {"params": {"conv1": {"kernel": jnp.asarray(k, jnp.float32)}}}


@pytest.fixture(scope="module")
def small_net():
    """A random two-layer net (conv-relu-conv, 5 channels) for the parity checks."""

    class Small(ImageModel):
        INPUT_SIZE: ClassVar[int] = 12

        @nn.compact
        def __call__(self, x, train=False):
            x = nn.relu(nn.Conv(4, (3, 3), padding=((1, 1), (1, 1)), name="conv1")(x))
            return nn.Conv(5, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), name="conv2")(x)

    model = Small()
    return model, model.init(jax.random.key(3), jnp.zeros((1, 12, 12, 3)))


# ---- numpy references ---------------------------------------------------------------------


def ref_rotate(img, deg, fill=1.0):
    """Bilinear counter-clockwise rotation about ((h-1)/2, (w-1)/2), out-of-image neighbours = fill."""
    h, w, c = img.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    t = math.radians(deg)
    out = np.empty_like(img, dtype=np.float64)

    def px(i, j):
        return img[i, j] if 0 <= i < h and 0 <= j < w else np.full(c, fill)

    for i in range(h):
        for j in range(w):
            x, y = j - cx, cy - i                                  # y up
            xs, ys = math.cos(t) * x + math.sin(t) * y, -math.sin(t) * x + math.cos(t) * y
            sj, si = cx + xs, cy - ys
            i0, j0 = math.floor(si), math.floor(sj)
            a, b = si - i0, sj - j0
            out[i, j] = ((1 - a) * ((1 - b) * px(i0, j0) + b * px(i0, j0 + 1))
                         + a * ((1 - b) * px(i0 + 1, j0) + b * px(i0 + 1, j0 + 1)))
    return out


def centre_response(model, variables, layer, images):
    _, acts = forward(model, variables, model.normalize(jnp.asarray(images)), [layer])
    a = np.asarray(acts[layer])
    return a[:, a.shape[1] // 2, a.shape[2] // 2, :]


# ---- rotate ------------------------------------------------------------------------------


def test_rotate_matches_numpy_bilinear_reference(rng):
    imgs = rng.random((2, 9, 10, 3)).astype(np.float32)
    angles = np.array([0.0, 17.0, 90.0, 200.0, -33.0])
    got = np.asarray(tuning.rotate(imgs, angles))
    assert got.shape == (5, 2, 9, 10, 3)
    for a, deg in enumerate(angles):
        for n in range(2):
            np.testing.assert_allclose(got[a, n], ref_rotate(imgs[n], deg), atol=2e-5)
    np.testing.assert_allclose(tuning.rotate(imgs, [30.0], fill=0.25)[0, 1], ref_rotate(imgs[1], 30.0, 0.25),
                               atol=2e-5)


def test_rotate_turns_stimuli_counter_clockwise():
    line0 = stimuli.line(SIZE, 0.0)[None]
    np.testing.assert_allclose(tuning.rotate(line0, [90.0])[0, 0], stimuli.line(SIZE, 90.0), atol=1e-4)
    np.testing.assert_allclose(tuning.rotate(line0, [30.0])[0, 0], stimuli.line(SIZE, 30.0), atol=0.35)
    assert np.abs(tuning.rotate(line0, [30.0])[0, 0] - stimuli.line(SIZE, 150.0)).max() > 0.9


# ---- responses, stats, rotation_tuning ------------------------------------------------------


def test_responses_match_the_forward_pass_and_pad_small_images(small_net, rng):
    model, v = small_net
    imgs = rng.random((7, 12, 12, 3)).astype(np.float32)
    want = centre_response(model, v, "conv2", imgs)
    np.testing.assert_allclose(tuning.responses(model, v, "conv2", imgs, batch_size=3), want, atol=1e-5)
    np.testing.assert_allclose(tuning.responses(model, v, "conv2", imgs, units=[4, 1]), want[:, [4, 1]],
                               atol=1e-5)
    mean = np.asarray(forward(model, v, model.normalize(jnp.asarray(imgs)), ["conv2"])[1]["conv2"]).mean((1, 2))
    np.testing.assert_allclose(tuning.responses(model, v, "conv2", imgs, position="mean"), mean, atol=1e-5)
    # a smaller image sits on a white canvas, its odd extra row/column before it
    small = rng.random((2, 9, 10, 3)).astype(np.float32)
    canvas = np.ones((2, 12, 12, 3), np.float32)
    canvas[:, 2:11, 1:11] = small
    np.testing.assert_allclose(tuning.responses(model, v, "conv2", small), centre_response(model, v, "conv2", canvas),
                               atol=1e-5)
    u8 = (imgs * 255).round().astype(np.uint8)
    np.testing.assert_allclose(tuning.responses(model, v, "conv2", u8),
                               centre_response(model, v, "conv2", u8 / np.float32(255)), atol=1e-5)


def test_activation_stats_are_the_centre_mean_and_sd(small_net, rng):
    model, v = small_net
    imgs = rng.random((10, 12, 12, 3)).astype(np.float32)
    mean, sd = tuning.activation_stats(model, v, "conv1", imgs, batch_size=4)
    r = centre_response(model, v, "conv1", imgs)
    np.testing.assert_allclose(mean, r.mean(0), atol=1e-5)
    np.testing.assert_allclose(sd, r.std(0), atol=1e-5)
    # the same from an iterable of ragged batches (a source read once, n unknown up front)
    m2, sd2 = tuning.activation_stats(model, v, "conv1", [imgs[:3], imgs[3:4], imgs[4:]], batch_size=4)
    np.testing.assert_allclose(m2, mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(sd2, sd, rtol=1e-6, atol=1e-7)


def test_rotation_tuning_equals_a_loop_over_angles(small_net, rng):
    model, v = small_net
    ex = rng.random((5, 12, 12, 3)).astype(np.float32)
    angles = np.array([0.0, 10.0, 45.0, 91.0, 180.0, 270.0, 333.0])
    loop = np.stack([centre_response(model, v, "conv2", np.asarray(tuning.rotate(ex, [a])[0])).mean(0)
                     for a in angles])                                      # [A, U]
    # batch 6: steps of 5 exemplars x 1 angle; batch 4: 4 exemplars (the last step padded) x 1 angle;
    # batch 256: 5 exemplars x 7 angles in one chunk; batch 12: 5 exemplars x 2 angles (angles padded)
    for batch in (6, 4, 256, 12):
        got = tuning.rotation_tuning(model, v, "conv2", ex, angles, batch=batch)
        np.testing.assert_allclose(got, loop, atol=1e-5, err_msg=f"batch={batch}")
    stats = tuning.activation_stats(model, v, "conv2", rng.random((6, 12, 12, 3)).astype(np.float32))
    got = tuning.rotation_tuning(model, v, "conv2", ex, angles, units=[3, 0], stats=stats, batch=10)
    want = (loop[:, [3, 0]] - np.asarray(stats[0])[[3, 0]]) / np.asarray(stats[1])[[3, 0]]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


# ---- planted orientations -----------------------------------------------------------------


def test_gratings_recover_the_built_orientations(net):
    model, v = net
    orientations = np.arange(0.0, 180.0, 1.0)
    grid = tuning.stimulus_tuning(model, v, "conv1", "grating", SIZE, orientation=orientations,
                                  frequency=[0.25], phase=np.arange(0.0, 360.0, 30.0))
    assert grid.shape == (180, 1, 12, len(BUILT))
    curves = np.asarray(grid).max(axis=(1, 2)).T          # best phase: [U, A]
    for method in ("argmax", "circular_mean"):
        got = np.asarray(tuning.preferred_orientation(curves, orientations, method, period=180.0))
        err = (got - BUILT + 90) % 180 - 90
        assert np.all(np.abs(err) < 5), (method, got)


def test_lines_and_rotated_lines_recover_the_built_orientations(net):
    model, v = net
    orientations = np.arange(0.0, 360.0, 2.0)
    lines = tuning.stimulus_tuning(model, v, "conv1", "line", SIZE, orientation=orientations)
    rotated = tuning.rotation_tuning(model, v, "conv1", stimuli.line(SIZE, 0.0)[None], orientations)
    for curves in (np.asarray(lines).T, np.asarray(rotated).T):
        for method in ("argmax", "circular_mean"):
            got = np.asarray(tuning.preferred_orientation(curves, orientations, method, period=180.0))
            err = (got - BUILT + 90) % 180 - 90
            assert np.all(np.abs(err) < 5), (method, got)


def test_stimulus_tuning_in_dataset_sd(net, rng):
    model, v = net
    data = rng.random((8, SIZE, SIZE, 3)).astype(np.float32)
    stats = tuning.activation_stats(model, v, "conv1", data)
    raw = tuning.stimulus_tuning(model, v, "conv1", "curve", SIZE, orientation=[0, 90, 180], radius=[3.0, 6.0])
    sd = tuning.stimulus_tuning(model, v, "conv1", "curve", SIZE, stats=stats, orientation=[0, 90, 180],
                                radius=[3.0, 6.0])
    assert raw.shape == sd.shape == (3, 2, len(BUILT))
    np.testing.assert_allclose(sd, (raw - stats[0]) / stats[1], rtol=1e-4, atol=1e-4)
    images, _ = stimuli.family("curve", SIZE, orientation=[0, 90, 180], radius=[3.0, 6.0])
    np.testing.assert_allclose(raw.reshape(6, -1), centre_response(model, v, "conv1", images), atol=1e-4)


def test_a_grey_model_sees_the_stimuli_luminance(net):
    """A one-channel model (the digits' small_cnn) is shown the stimuli's channel mean, not refused
    after minutes of circuits work for their three channels."""
    model, v = net
    class GreyGaborNet(GaborNet):
        IN_CHANNELS: ClassVar[int] = 1
        MEAN: ClassVar[tuple] = (0.0,)
        STD: ClassVar[tuple] = (1.0,)

    grey = GreyGaborNet()
    k = v["params"]["conv1"]["kernel"].sum(2, keepdims=True)  # the RGB kernel on equal channels
    raw = tuning.stimulus_tuning(grey, {"params": {"conv1": {"kernel": k}}}, "conv1", "curve", SIZE,
                                 orientation=[0, 90], radius=[3.0])
    images, _ = stimuli.family("curve", SIZE, orientation=[0, 90], radius=[3.0])
    lum = np.asarray(images).mean(-1, keepdims=True).repeat(3, -1)
    np.testing.assert_allclose(raw.reshape(2, -1), centre_response(model, v, "conv1", lum), atol=1e-4)


# ---- preferred orientation and joint tuning on synthetic bumps ------------------------------


def von_mises(angles, peak, kappa=4.0, period=360.0):
    return np.exp(kappa * (np.cos(2 * np.pi * (angles - peak) / period) - 1))


def test_preferred_orientation_recovers_planted_peaks(rng):
    angles = np.arange(0.0, 360.0, 1.0)
    peaks = np.array([0.0, 17.0, 123.0, 250.0, 359.0])
    curves = np.stack([3 * von_mises(angles, p) - 0.5 for p in peaks])   # a baseline that goes negative
    for method in ("argmax", "circular_mean"):
        got = np.asarray(tuning.preferred_orientation(curves, angles, method))
        assert np.all(np.abs((got - peaks + 180) % 360 - 180) < 0.5), (method, got)
    # period 180: a bump repeated every 180° (a line detector), peaks 10 and 150
    line_curves = np.stack([von_mises(angles, p, period=180.0) for p in (10.0, 150.0)])
    for method in ("argmax", "circular_mean"):
        got = np.asarray(tuning.preferred_orientation(line_curves, angles, method, period=180.0))
        np.testing.assert_allclose(got, [10.0, 150.0], atol=0.5)
    # the circular mean weights by activation: an asymmetric curve pulls it off the argmax
    skew = von_mises(angles, 100.0) + 0.8 * von_mises(angles, 140.0)
    cm = float(tuning.preferred_orientation(skew[None], angles, "circular_mean")[0])
    w = np.maximum(skew, 0)
    want = math.degrees(math.atan2(w @ np.sin(np.radians(angles)), w @ np.cos(np.radians(angles)))) % 360
    assert abs(cm - want) < 1e-3 and 100 < cm < 140
    assert np.isnan(tuning.preferred_orientation(-np.ones((1, 360)), angles, "circular_mean")[0])


def test_joint_tuning_aligns_peaks_and_averages():
    angles = np.arange(0.0, 360.0, 1.0)
    peaks = [5.0, 90.0, 200.0, 311.0]
    curves = np.stack([von_mises(angles, p, kappa=6.0) for p in peaks])
    joint = np.asarray(tuning.joint_tuning(curves))
    np.testing.assert_allclose(joint, von_mises(angles, 180.0, kappa=6.0), atol=1e-6)  # peak at A // 2
    start = np.asarray(tuning.joint_tuning(curves, align="start"))
    np.testing.assert_allclose(start, von_mises(angles, 0.0, kappa=6.0), atol=1e-6)
    widths = np.stack([von_mises(angles, 40.0, kappa=2.0), von_mises(angles, 300.0, kappa=8.0)])
    want = (von_mises(angles, 180.0, kappa=2.0) + von_mises(angles, 180.0, kappa=8.0)) / 2
    np.testing.assert_allclose(tuning.joint_tuning(widths), want, atol=1e-6)


# ---- bad input ----------------------------------------------------------------------------


def test_bad_input_is_refused_clearly(net, small_net):
    model, v = net
    img = np.ones((2, SIZE, SIZE, 3), np.float32)
    with pytest.raises(ValueError, match=r"unit\(s\) \[4\] out of range.*4 channels"):
        tuning.responses(model, v, "conv1", img, units=[0, 4])
    with pytest.raises(ValueError, match=r"out of range"):
        tuning.rotation_tuning(model, v, "conv1", img, [0.0], units=[-1])
    with pytest.raises(ValueError, match="larger than GaborNet's input 17x17"):
        tuning.stimulus_tuning(model, v, "conv1", "line", 18, orientation=[0.0])
    with pytest.raises(ValueError, match="takes 17x17 inputs"):
        tuning.responses(model, v, "conv1", np.ones((1, 20, 20, 3), np.float32))
    with pytest.raises(ValueError, match="NCHW"):
        tuning.responses(model, v, "conv1", np.ones((2, 3, SIZE, SIZE), np.float32))
    with pytest.raises(ValueError, match="rank 4"):
        tuning.rotation_tuning(model, v, "conv1", np.ones((SIZE, SIZE, 3), np.float32), [0.0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        tuning.responses(model, v, "conv1", img * 255)
    with pytest.raises(ValueError, match="unknown layer"):
        tuning.responses(model, v, "conv9", img)
    with pytest.raises(ValueError, match="angles_deg must be a non-empty 1-D"):
        tuning.rotation_tuning(model, v, "conv1", img, [[0.0, 1.0]])
    with pytest.raises(ValueError, match="stats must be"):
        tuning.rotation_tuning(model, v, "conv1", img, [0.0], stats=(np.zeros(3), np.ones(3)))
    with pytest.raises(ValueError, match="position must be"):
        tuning.responses(model, v, "conv1", img, position="center-ish")
    with pytest.raises(ValueError, match="spells it 'centre'"):
        tuning.responses(model, v, "conv1", img, position="center")
    with pytest.raises(ValueError, match="position 'all' keeps the whole map"):
        tuning.responses(model, v, "conv1", img, position="all")

    class Flat(ImageModel):
        INPUT_SIZE: ClassVar[int] = 8

        @nn.compact
        def __call__(self, x, train=False):
            return nn.Dense(3, name="fc")(x.reshape(len(x), -1))

    flat = Flat()
    fv = flat.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))
    with pytest.raises(ValueError, match="needs a layer with spatial axes"):
        tuning.responses(flat, fv, "fc", np.ones((1, 8, 8, 3), np.float32))
    np.testing.assert_allclose(tuning.responses(flat, fv, "fc", np.ones((1, 8, 8, 3), np.float32), position="mean"),
                               flat.apply(fv, flat.normalize(jnp.ones((1, 8, 8, 3)))), atol=1e-6)
    curves = np.ones((3, 10))
    with pytest.raises(ValueError, match="curves have 10 samples per unit but angles_deg has 9"):
        tuning.preferred_orientation(curves, np.arange(9.0))
    with pytest.raises(ValueError, match=r"curves must be \[U, A\]"):
        tuning.joint_tuning(np.ones(10))
    with pytest.raises(ValueError, match="method must be"):
        tuning.preferred_orientation(curves, np.arange(10.0), "mode")


# ---- the real network against PyTorch ------------------------------------------------------


@pytest.mark.slow
def test_real_resnet20_rotation_tuning_matches_torch_grid_sample(shared_data):
    """The converted ResNet-20's layer3 tuning over rotated CIFAR images equals torch's
    affine_grid/grid_sample rotation (bilinear, align_corners, white fill) on AkaResNet."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from converters import convert, load_state_dict
    from jaxinterp import models
    from jaxinterp.data.checks import to_unit_float
    from tests.models.torch_refs import AkaResNet

    path = shared_data / "models" / "resnet20-12fca82f.th"
    model = models.get("cifar_resnet20")
    variables = convert(path, "cifar_resnet20")
    images = to_unit_float(np.load(shared_data / "cifar10" / "test_first932.npz")["images"][:6])
    angles = np.array([0.0, 33.0, 90.0, 241.0], np.float32)
    got = np.asarray(tuning.rotation_tuning(model, variables, "layer3", images, angles, units=[0, 17, 63]))

    net = AkaResNet(20).eval()
    net.load_state_dict({k: torch.tensor(v) for k, v in load_state_dict(path).items()})
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    mean = torch.tensor(model.MEAN).view(1, 3, 1, 1)
    std = torch.tensor(model.STD).view(1, 3, 1, 1)
    want = []
    with torch.inference_mode():
        for deg in angles:
            c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
            theta = torch.tensor([[c, -s, 0.0], [s, c, 0.0]]).expand(len(x), 2, 3)
            grid = F.affine_grid(theta, list(x.shape), align_corners=True)
            rot = F.grid_sample(x - 1, grid, mode="bilinear", padding_mode="zeros", align_corners=True) + 1
            a = net.layer3(net.layer2(net.layer1(F.relu(net.bn1(net.conv1((rot - mean) / std))))))
            want.append(a[:, [0, 17, 63], 4, 4].mean(0).numpy())
    np.testing.assert_allclose(got, np.stack(want), atol=1e-4 * max(1.0, np.abs(want).max()))


def test_directions_are_projections_of_the_channels(small_net, rng):
    """With directions [k, C] a unit is a row: responses, dataset statistics, stimulus and rotation
    responses are the channels' raw ones projected (0.7·r_1 − 1.3·r_3), before any z-scoring;
    bad directions or a row index past k are refused in one line."""
    model, v = small_net
    data = rng.random((6, 12, 12, 3)).astype(np.float32)
    d = np.zeros((2, 5), np.float32)
    d[0, 1], d[0, 3], d[1] = 0.7, -1.3, rng.normal(size=5)
    chans = tuning.responses(model, v, "conv2", data)                                 # [n, 5]
    got = tuning.responses(model, v, "conv2", data, directions=d)
    np.testing.assert_allclose(got, chans @ d.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, centre_response(model, v, "conv2", data) @ d.T, rtol=1e-4, atol=1e-5)
    mean, sd = tuning.activation_stats(model, v, "conv2", data, directions=d)
    np.testing.assert_allclose(np.stack([mean, sd]), np.stack([got.mean(0), got.std(0)]), rtol=1e-4, atol=1e-6)
    grid = {"orientation": [0.0, 90.0], "radius": [3.0]}
    raw = tuning.stimulus_tuning(model, v, "conv2", "curve", 12, **grid)                 # [2, 1, 5]
    planted = tuning.stimulus_tuning(model, v, "conv2", "curve", 12, units=[0], directions=d, **grid)
    np.testing.assert_allclose(planted[..., 0], 0.7 * raw[..., 1] - 1.3 * raw[..., 3], rtol=1e-5, atol=1e-5)
    in_sd = tuning.stimulus_tuning(model, v, "conv2", "curve", 12, stats=(mean, sd), directions=d, **grid)
    np.testing.assert_allclose(in_sd[..., 0], (planted[..., 0] - mean[0]) / sd[0], rtol=1e-4, atol=1e-4)
    angles = [0.0, 45.0, 90.0]
    rot = tuning.rotation_tuning(model, v, "conv2", data, angles)                        # [3, 5]
    np.testing.assert_allclose(tuning.rotation_tuning(model, v, "conv2", data, angles, directions=d),
                               rot @ d.T, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"directions must be a finite \[k, 5\] array"):
        tuning.responses(model, v, "conv2", data, directions=np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"unit\(s\) \[2\] out of range: there are 2 directions"):
        tuning.responses(model, v, "conv2", data, units=[2], directions=d)
    with pytest.raises(ValueError, match="over all 2 units"):
        tuning.stimulus_tuning(model, v, "conv2", "curve", 12, stats=(mean[:1], sd[:1]), directions=d, **grid)
