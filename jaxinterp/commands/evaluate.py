"""``jaxinterp evaluate --arch NAME --params DIR --data DATA``: top-1 accuracy as JSON.

The images are streamed (any dataset ``--data`` takes: a folder of a million JPEGs is decoded
batch by batch, never held whole), scaled to [0, 1] and normalised with the model's MEAN/STD.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from jaxinterp.commands._data import DATA_HELP, add_data_arguments, data_spec
from jaxinterp.commands._options import add_model_arguments


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "evaluate",
        help="top-1 accuracy of a model on a labelled dataset",
        description=(
            "Streams the images of --data (any kind; see --data), scales them to [0, 1] and "
            "normalises them with the model's MEAN/STD. "
            'Prints {"accuracy": ..., "correct": ..., "n": ...} (and "random_weights": true for random:SEED).'
        ),
    )
    add_model_arguments(parser)
    add_data_arguments(parser, DATA_HELP + "; with labels")
    parser.add_argument("--batch-size", type=int, default=256)
    return parser


@dataclasses.dataclass(frozen=True)
class Predict:
    """``fn(variables, images01) -> predicted class [b]`` for the streaming engine (hashable)."""

    model: Any

    def __call__(self, variables, images01):
        import jax.numpy as jnp

        return jnp.argmax(self.model.apply(variables, self.model.normalize(images01)), axis=-1)


def run(args) -> int:
    from jaxinterp import models, steps, stream
    from jaxinterp.data.checks import check_fits_model

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    spec = steps.model_spec(args.arch, args.params)
    model = models.get(args.arch)
    data = data_spec(args, args.arch)
    source = steps.open_source(data)
    check_fits_model((source.num_images, *source.image_shape), source.labels, model, args.arch,
                     f"images in {data.name}")
    if source.labels is None:
        raise ValueError(f"{args.data} has no labels; an accuracy needs one class per image: use a folder "
                         "with one subfolder per class, an .npz with 'labels', or pass --labels")
    model, variables = steps.load_model(spec)
    predicted = stream.stream_map(Predict(model), variables, source, batch_size=args.batch_size)
    correct = int((predicted == source.labels).sum())
    n = source.num_images
    print(json.dumps({"accuracy": correct / n, "correct": correct, "n": n,
                      **({"random_weights": True} if spec.random else {})}))
    return 0
