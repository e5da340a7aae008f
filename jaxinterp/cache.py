"""Where jaxinterp keeps what it can make again: ``$JAXINTERP_CACHE``, else ``~/.cache/jaxinterp``
(``$XDG_CACHE_HOME/jaxinterp``): the demo model, dataset fingerprints."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    root = os.environ.get("JAXINTERP_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")
    ) / "jaxinterp"
    return Path(root)
