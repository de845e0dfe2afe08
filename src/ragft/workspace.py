"""The on-disk project: `ragft.toml` (settings) plus a `.ragft/` state folder beside it.

Commands find the workspace the way git finds a repository: from the current directory upwards,
unless `--workspace` names one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ragft.config import DEFAULT_TOML, Config, edit_toml, load_config
from ragft.corpus.postgres import PostgresStore, is_postgres_url
from ragft.corpus.store import DocumentStore, SQLiteStore
from ragft.errors import RagftError

CONFIG_FILE = "ragft.toml"
STATE_DIR = ".ragft"
STORE_URL_ENV = "RAGFT_STORE_URL"  # overrides [store] url, so a password need not be written in ragft.toml


class WorkspaceError(RagftError, RuntimeError):
    """No workspace where one was expected (or one where none should be)."""


@dataclass
class Workspace:
    """A ragft project folder; construction reads settings only, the store opens on first use."""

    root: Path
    config: Config = field(default_factory=Config)

    @classmethod
    def init(cls, directory: Path) -> Workspace:
        """Create `ragft.toml` and `.ragft/` in `directory` (made if missing)."""
        directory = directory.expanduser().resolve()
        config_path = directory / CONFIG_FILE
        if config_path.exists():
            raise WorkspaceError(f"{config_path} already exists: this folder is already a ragft workspace")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / STATE_DIR).mkdir(exist_ok=True)
        config_path.write_text(DEFAULT_TOML, encoding="utf-8")
        return cls.open(directory)

    @classmethod
    def open(cls, directory: Path) -> Workspace:
        """The workspace whose `ragft.toml` is in `directory`."""
        directory = directory.expanduser().resolve()
        config_path = directory / CONFIG_FILE
        if not config_path.is_file():
            raise WorkspaceError(f"{directory} is not a ragft workspace (no {CONFIG_FILE}); create one with `ragft init {directory}`")
        return cls(root=directory, config=load_config(config_path))

    @classmethod
    def find(cls, start: Path | None = None) -> Workspace:
        """The nearest workspace at or above `start` (default: the current directory)."""
        here = (start or Path.cwd()).expanduser().resolve()
        for folder in (here, *here.parents):
            if (folder / CONFIG_FILE).is_file():
                return cls.open(folder)
        raise WorkspaceError(f"no ragft workspace at or above {here}; run `ragft init` first or pass --workspace DIR")

    def with_settings(self, settings: Mapping[str, Any], *, note: str = "") -> Workspace:
        """Change settings in ragft.toml and reopen; keys are `key` (one section has it) or `section.key`.

        The file is edited through a TOML parser (`edit_toml`), so the user's comments and layout stay
        and only the named keys change; `note` becomes the edited lines' trailing comment. The file is
        replaced (atomically) only when the result loads, so a bad name or value leaves it intact.
        """
        path = self.root / CONFIG_FILE
        text = edit_toml(path.read_text(encoding="utf-8"), settings, note=note, source=str(path))
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
        return Workspace.open(self.root)

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def index_dir(self) -> Path:
        return self.state_dir / "indexes"

    @property
    def store_url(self) -> str:
        """Where documents, users and the audit log live: RAGFT_STORE_URL, else `[store] url`."""
        return os.environ.get(STORE_URL_ENV) or self.config.store.url

    @property
    def shared_store(self) -> bool:
        """True when the store is a PostgreSQL database that other processes (replicas) may write too."""
        return is_postgres_url(self.store_url)

    def open_store(self) -> DocumentStore:
        """A new connection to the document store (one per thread: SQLite connections cannot cross threads)."""
        if self.shared_store:
            return PostgresStore(self.store_url)
        return SQLiteStore(self.state_dir / "store.sqlite3")

    @cached_property
    def store(self) -> DocumentStore:
        return self.open_store()
