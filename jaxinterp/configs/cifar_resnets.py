"""The CIFAR-10 ResNet-20 and ResNet-32 sweep: 2 models × 2 layers × {neurons, K-means, PCA, SAE} × 2 K.

Paths default to ../shared/data beside the current folder (where the project's test data
lives); set JAXINTERP_DATA to the folder that holds cifar10/ and models/ to use another.
The weights are the PyTorch files themselves (converted on load; needs torch), or
directories from `jaxinterp convert`.

    jaxinterp sweep jaxinterp/configs/cifar_resnets.py --smoke --out sweep-smoke
"""

import os
from pathlib import Path


def get_config(smoke: bool = False) -> dict:
    root = Path(os.environ.get("JAXINTERP_DATA", Path.cwd().parent / "shared" / "data"))
    return dict(
        models={"resnet20": ("cifar_resnet20", str(root / "models" / "resnet20-12fca82f.th")),
                "resnet32": ("cifar_resnet32", str(root / "models" / "resnet32-d509ac18.th"))},
        data=str(root / "cifar10" / "test_first932.npz"),
        limit=400 if smoke else None,
        layers=["layer1", "layer2"],
        methods=["neurons", "kmeans", "pca", "sae"],
        ks=[0.5, 1.0],  # K as a fraction of each layer's width
        seeds=[0] if smoke else [0, 1, 2],
        similarities=["colour", "label"],
        m=5,
        options={"sae": {"max_steps": 300 if smoke else 1000}},
    )
