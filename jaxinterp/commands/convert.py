"""``jaxinterp convert CHECKPOINT --arch NAME --out DIR``: a PyTorch checkpoint -> an orbax checkpoint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "convert",
        help="convert a PyTorch checkpoint (.pt/.pth/.th) to jaxinterp variables",
        description=(
            "Read a PyTorch state_dict (bare, or under 'state_dict'/'model'; 'module.' prefixes "
            "are stripped) with torch.load(weights_only=True), check every key and shape against "
            "--arch, and write an orbax checkpoint with meta.json."
        ),
    )
    parser.add_argument("checkpoint", type=Path, help="PyTorch checkpoint file")
    parser.add_argument("--arch", required=True, help="registered architecture, e.g. cifar_resnet20")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    return parser


def run(args) -> int:
    from converters import convert
    from jaxinterp.checkpoint import save_variables
    from jaxinterp.commands._paths import check_out_folder

    check_out_folder(args.out)  # before reading the checkpoint: fail fast
    variables = convert(args.checkpoint, args.arch)
    meta = {"arch": args.arch, "source": str(Path(args.checkpoint).absolute()), "converter": "torch_state_dict"}
    out = save_variables(args.out, variables, meta)
    print(json.dumps({"arch": args.arch, "out": str(out)}))
    return 0
