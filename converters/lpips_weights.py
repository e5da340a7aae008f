"""LPIPS weights: the ``lpips`` package's ``.pth`` lin layers and lpips-j's h5 files.

=============================  =====================================  ==========================
source                         layout                                 jaxinterp
=============================  =====================================  ==========================
``lpips/weights/v0.1/*.pth``   ``lin{i}.model.1.weight`` (1, C, 1, 1)  five vectors [C]
lpips-j ``lpips_lin.h5``       dataset ``lin{i}`` (1, 1, C, 1)         five vectors [C]
lpips-j ``vgg16_weights.h5``   group ``conv{b}_{l}``: ``weight``       ``features.N`` of the
                               (3, 3, in, out), ``bias`` (out,)        registered ``vgg16``
=============================  =====================================  ==========================

lpips-j downloads both h5 files from the Hugging Face repository
``pcuenq/lpips-jax``; :func:`write_lpips_j_cache` writes weights of our own in
that cache layout so that lpips-j runs offline on them (parity tests, benchmarks).
Backbones from torchvision checkpoints go through
``converters.torch_state_dict.convert(path, "alexnet" | "vgg16")``.

torch and h5py are imported only inside the functions that need them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

LIN_LAYERS = 5
LPIPS_J_REPO = "pcuenq/lpips-jax"
LPIPS_J_FILES = ("vgg16_weights.h5", "lpips_lin.h5")

# lpips-j (flaxmodels) VGG16 conv names -> torchvision ``features`` indices.
VGG16_CONVS = {
    "conv1_1": "0", "conv1_2": "2",
    "conv2_1": "5", "conv2_2": "7",
    "conv3_1": "10", "conv3_2": "12", "conv3_3": "14",
    "conv4_1": "17", "conv4_2": "19", "conv4_3": "21",
    "conv5_1": "24", "conv5_2": "26", "conv5_3": "28",
}


class LpipsWeightsError(ValueError):
    """A weight file that is not what LPIPS expects."""


def _lin_vectors(named: dict[str, np.ndarray], pattern: str, path: Path) -> list[np.ndarray]:
    expected = [pattern.format(i) for i in range(LIN_LAYERS)]
    missing = [k for k in expected if k not in named]
    unknown = [k for k in named if k not in expected]
    if missing or unknown:
        raise LpipsWeightsError(
            f"{path} is not an LPIPS lin-weight file: expected exactly the keys {expected}; "
            f"missing {missing}, unexpected {unknown[:8]}; pass the lpips package's "
            "lpips/weights/v0.1/alex.pth (or vgg.pth), or lpips-j's lpips_lin.h5, as the lin "
            "weights (--lpips-lin); a backbone checkpoint goes to --lpips-backbone"
        )
    out = []
    for key in expected:
        w = np.asarray(named[key], np.float32)
        if w.ndim != 4 or sorted(w.shape)[:3] != [1, 1, 1]:
            raise LpipsWeightsError(f"{path}: {key} has shape {w.shape}, expected a 1x1 conv to 1 channel")
        out.append(w.reshape(-1))
    return out


def load_lin_pth(path: str | os.PathLike) -> list[np.ndarray]:
    """``alex.pth`` / ``vgg.pth`` / ``squeeze.pth`` of the lpips package -> five vectors [C]."""
    from converters.torch_state_dict import load_state_dict

    path = Path(path)
    return _lin_vectors(load_state_dict(path), "lin{}.model.1.weight", path)


def load_lin_h5(path: str | os.PathLike) -> list[np.ndarray]:
    """lpips-j's ``lpips_lin.h5`` -> five vectors [C]."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no lin-weight file at {path}")
    with h5py.File(path, "r") as f:
        named = {k: np.asarray(f[k]) for k in f.keys()}
    return _lin_vectors(named, "lin{}", path)


def load_lin(path: str | os.PathLike) -> list[np.ndarray]:
    """Lin weights from a ``.pth`` (lpips) or ``.h5`` (lpips-j) file -> five vectors [C]."""
    suffix = Path(path).suffix
    if suffix in (".pth", ".pt"):
        return load_lin_pth(path)
    if suffix in (".h5", ".hdf5"):
        return load_lin_h5(path)
    raise LpipsWeightsError(f"{path}: expected a .pth (lpips package) or .h5 (lpips-j) file, got {suffix!r}")


def save_lin_h5(path: str | os.PathLike, lins: Sequence[Any]) -> None:
    """Five vectors [C] -> an lpips-j ``lpips_lin.h5`` (datasets ``lin{i}`` of shape (1, 1, C, 1))."""
    import h5py

    with h5py.File(path, "w") as f:
        for i, w in enumerate(lins):
            f.create_dataset(f"lin{i}", data=np.asarray(w, np.float32).reshape(1, 1, -1, 1))


def vgg16_from_h5(path: str | os.PathLike) -> dict:
    """lpips-j's ``vgg16_weights.h5`` -> ``{"params": {"features": ...}}`` of the registered ``vgg16``.

    Only the convolutions (the LPIPS backbone); fully connected groups are ignored.
    """
    import h5py

    path = Path(path)
    with h5py.File(path, "r") as f:
        missing = [name for name in VGG16_CONVS if name not in f]
        if missing:
            raise LpipsWeightsError(f"{path} is not a VGG16 h5 file: groups {missing} are missing")
        features = {
            index: {
                "kernel": np.asarray(f[name]["weight"], np.float32),
                "bias": np.asarray(f[name]["bias"], np.float32),
            }
            for name, index in VGG16_CONVS.items()
        }
    return {"params": {"features": features}}


def save_vgg16_h5(path: str | os.PathLike, variables: Any) -> None:
    """Variables of the registered ``vgg16`` (``features`` convs) -> an lpips-j ``vgg16_weights.h5``."""
    import h5py

    features = variables["params"]["features"]
    with h5py.File(path, "w") as f:
        for name, index in VGG16_CONVS.items():
            group = f.create_group(name)
            group.create_dataset("weight", data=np.asarray(features[index]["kernel"], np.float32))
            group.create_dataset("bias", data=np.asarray(features[index]["bias"], np.float32))


def write_lpips_j_cache(cache_dir: str | os.PathLike, variables: Any, lins: Sequence[Any],
                        revision: str = "0" * 40) -> Path:
    """Write VGG16 and lin weights where ``hf_hub_download`` finds them offline.

    Lays out ``<cache_dir>/models--pcuenq--lpips-jax/{refs/main, snapshots/<revision>/*.h5}``;
    point ``HF_HUB_CACHE`` at ``cache_dir`` and set ``HF_HUB_OFFLINE=1`` before running lpips-j.

    Returns:
      the snapshot directory holding the two files.
    """
    repo = Path(cache_dir) / ("models--" + LPIPS_J_REPO.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    save_vgg16_h5(snapshot / LPIPS_J_FILES[0], variables)
    save_lin_h5(snapshot / LPIPS_J_FILES[1], lins)
    return snapshot


def lpips_from_files(backbone: str | os.PathLike, lin: str | os.PathLike, net: str = "alex",
                     convention: str = "correct"):
    """The LPIPS :class:`~jaxinterp.similarity.Similarity` from weight files.

    Args:
      backbone: a torchvision ``alexnet``/``vgg16`` checkpoint (``.pth``) or lpips-j's
        ``vgg16_weights.h5``.
      lin: ``alex.pth``/``vgg.pth`` of the lpips package or lpips-j's ``lpips_lin.h5``.
    """
    from jaxinterp.similarity import lpips
    from jaxinterp.similarity.lpips import MODEL_NAMES

    if net not in MODEL_NAMES:
        raise LpipsWeightsError(f"unknown LPIPS net {net!r}; use one of {sorted(MODEL_NAMES)}")
    if Path(backbone).suffix in (".h5", ".hdf5"):
        if net != "vgg":
            raise LpipsWeightsError(f"{backbone} is an lpips-j VGG16 h5 file; use net='vgg', not {net!r}")
        variables = vgg16_from_h5(backbone)
    else:
        from converters.torch_state_dict import convert

        other = {"alex": "vgg", "vgg": "alex"}[net]
        variables = convert(
            backbone, MODEL_NAMES[net],
            fix=(f"the LPIPS backbone (--lpips-backbone) must be torchvision's ImageNet "
                 f"{MODEL_NAMES[net]} weights for net={net!r}; pass that file, or net={other!r} "
                 f"if this is a {MODEL_NAMES[other]} checkpoint. The lin weights "
                 f"({net}.pth of the lpips package) go to --lpips-lin, not here"),
        )
    return lpips(variables, load_lin(lin), net=net, convention=convention)
