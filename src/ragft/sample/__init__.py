"""The bundled sample corpus: a fictional company's documents in two versions, plus gold questions.

See README.md in this folder for the company, what changes in version 2, and the question format.
"""

from __future__ import annotations

import shutil
from pathlib import Path

SAMPLE_ROOT = Path(__file__).parent
VERSIONS = (1, 2)


def sample_dir(version: int = 1) -> Path:
    """The folder holding version `version` of the sample corpus."""
    if version not in VERSIONS:
        raise ValueError(f"the sample corpus has versions {VERSIONS}, not {version}")
    return SAMPLE_ROOT / f"v{version}"


def questions_path() -> Path:
    """The hand-written gold question set (shared benchmark shape plus `kind`)."""
    return SAMPLE_ROOT / "questions.jsonl"


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def write_sample(dest: Path, version: int = 1) -> list[str]:
    """Make `dest` hold exactly sample version `version`, as a user's changing folder would.

    Sample files of other versions that this version lacks are deleted; any other file already
    in `dest` is left alone. Returns the relative paths written.
    """
    source = sample_dir(version)
    wanted = _files(source)
    dest.mkdir(parents=True, exist_ok=True)
    other_versions = set().union(*(_files(sample_dir(v)) for v in VERSIONS if v != version)) - wanted
    for rel in other_versions:
        (dest / rel).unlink(missing_ok=True)
    for rel in sorted(wanted):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, target)
    return sorted(wanted)
