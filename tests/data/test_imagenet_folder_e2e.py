"""The 224-px path end to end on AlexNet, the cheapest registered ImageNet model: a folder of
JPEG/PNG files of other sizes in ImageNet's layout, the model's PREPROCESS (shorter side 256,
centre 224), then ``evaluate`` against torch and ``featvis`` with Lucid's ImageNet defaults."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from jaxinterp import cli

torch = pytest.importorskip("torch")

from tests.models import torch_refs  # noqa: E402

MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
SIZES = [(300, 260), (256, 320), (400, 256), (257, 257)]  # (width, height): landscape, portrait, square


def reference_input(path) -> np.ndarray:
    """torchvision's Resize(256) + CenterCrop(224) + ToTensor + Normalize, written out: [3, 224, 224]."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    img = img.resize((256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256), Image.BILINEAR)
    w, h = img.size
    top, left = int(round((h - 224) / 2)), int(round((w - 224) / 2))
    x = np.asarray(img.crop((left, top, left + 224, top + 224)), np.float64) / 255
    return ((x - MEAN) / STD).transpose(2, 0, 1)


@pytest.mark.slow  # ~40 s on 2 cores: AlexNet's 61M random weights and 224-px renders
def test_imagenet_folder_evaluate_and_featvis(tmp_path, capsys):
    rng = np.random.default_rng(0)
    folder, files = tmp_path / "val", []
    for i, (w, h) in enumerate(SIZES):
        wnid = ("n01440764", "n01443537")[i // 2]  # tench, goldfish
        (folder / wnid).mkdir(parents=True, exist_ok=True)
        smooth = np.asarray(Image.fromarray(rng.integers(0, 256, (h // 16, w // 16, 3), dtype=np.uint8)).resize((w, h)))
        path = folder / wnid / f"{i}.{'png' if i % 2 else 'jpg'}"
        Image.fromarray(smooth).save(path, quality=95)
        files.append(path)

    # evaluate: random torch weights through the converter; labels the torch model's own top-1 for
    # three images and another class for the fourth, so the accuracy is 3/4 only if every image
    # was decoded, resized, cropped, normalised and classified as torchvision would
    reference = torch_refs.build("alexnet", seed=0)
    torch.save(reference.state_dict(), tmp_path / "alexnet.pth")
    with torch.no_grad():
        logits = reference(torch.tensor(np.stack([reference_input(f) for f in files]), dtype=torch.float32))
    top1 = logits.argmax(1).numpy()
    margin = np.sort(logits.numpy(), 1)[:, -2:]
    assert (margin[:, 1] - margin[:, 0] > 1e-3 * np.abs(margin).max()).all()  # no near-tie to flip
    labels = [*top1[:3], (top1[3] + 1) % 1000]
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([(f.relative_to(folder), int(c)) for f, c in zip(files, labels)])
    evaluate = ["evaluate", "--arch", "alexnet", "--params", str(tmp_path / "alexnet.pth"), "--data", str(folder)]
    assert cli.main([*evaluate, "--labels", str(tmp_path / "labels.csv")]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"accuracy": 0.75, "correct": 3, "n": 4}

    # featvis with random:0 on the class folders: Lucid's ImageNet defaults at 224 px, the banner
    out = tmp_path / "featvis"
    assert cli.main(["featvis", "--arch", "alexnet", "--params", "random:0", "--data", str(folder), "--layer",
                     "features.4", "--units", "3:5", "--steps", "2", "--diversity", "0", "--negative-steps", "0",
                     "--exemplars", "2", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["size"], summary["transforms"], summary["color"]) == (224, "standard", "imagenet")
    assert summary["images_in_data"] == 4
    page = (out / "index.html").read_text()
    assert "RANDOM WEIGHTS" in page and "Feature visualisation: features.4" in page
    with np.load(out / "featvis_features_4.npz") as z:
        assert z["images"].shape == (2, 224, 224, 3)
