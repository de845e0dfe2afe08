"""Where ragft keeps files it derives from installed packages (assembled GGUFs, converted models).

One directory, chosen once: `$RAGFT_CACHE_DIR` when set (tests and CI point it at a temp dir),
else `~/.cache/ragft/models/` (honouring `$XDG_CACHE_HOME`). Everything in it can be deleted;
it is rebuilt from the installed packages on next use.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV_VAR = "RAGFT_CACHE_DIR"


def models_cache_dir() -> Path:
    """Return (creating it if needed) the directory for ragft's derived model files."""
    override = os.environ.get(CACHE_ENV_VAR)
    if override:
        path = Path(override).expanduser()
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
        path = base / "ragft" / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path
