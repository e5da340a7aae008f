"""Checks on the paths a command is given, run before any work."""

from __future__ import annotations

from pathlib import Path


def check_out_folder(out) -> None:
    """``--out`` must be a folder or a new name, not an existing file (checked before any work)."""
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"--out must be a folder, got the existing file {path}; pass a new "
                              "folder name (or move the file away)")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise NotADirectoryError(f"--out {path} lies under {blocking}, which is a file, not a "
                                 "folder; pass a folder path")
