"""``jaxinterp layers --arch NAME [--size S] [--grep TEXT]``: every layer name of an architecture,
with its activation shape, in call order (upstream first); ``relu`` marks layers whose output is
a ReLU's (their pre-ReLU values differ)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "layers",
        help="list an architecture's layer names and shapes (what --layer takes)",
        description="Print every capturable layer of --arch in call order, with one image's "
                    "activation shape. Needs no weights.",
    )
    parser.add_argument("--arch", required=True, help="registered architecture, e.g. cifar_resnet20")
    parser.add_argument("--size", type=int, default=None,
                        help="input height = width in pixels (default: the architecture's own)")
    parser.add_argument("--grep", default="", help="only layers whose name contains this text")
    return parser


def run(args) -> int:
    import jax
    import jax.numpy as jnp

    from jaxinterp import door, models

    model = models.get(args.arch)
    size = args.size or model.INPUT_SIZE or 32
    x = jnp.zeros((1, size, size, model.IN_CHANNELS), jnp.float32)
    shapes = jax.eval_shape(lambda k: model.init(k, x), jax.random.key(0))
    lines = door.graph(model, shapes, x.shape[1:]).table().splitlines()
    print("\n".join(line for line in lines if args.grep in line.split()[0]))
    return 0
