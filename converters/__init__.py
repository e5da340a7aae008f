"""Readers of foreign checkpoints into jaxinterp variables; each imports its framework lazily."""

from converters.torch_state_dict import (
    CheckpointError,
    convert,
    load_state_dict,
    to_variables,
    torch_layout,
)

__all__ = ["CheckpointError", "convert", "load_state_dict", "to_variables", "torch_layout"]
