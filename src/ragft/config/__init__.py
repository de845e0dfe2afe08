"""Workspace settings: typed dataclasses read from `ragft.toml`, declared once in the section modules beside this file.

`DEFAULT_TOML` is what `ragft init` writes, generated from those declarations: every setting present
with its doc as a comment, so the file is its own documentation. Every value is checked when the file
loads; unknown sections or keys are errors (a typo must not silently fall back). `edit_toml` changes
settings through a TOML parser, keeping the user's comments and layout.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any, cast

import tomlkit
from tomlkit.exceptions import TOMLKitError

from ragft.config.schema import ConfigError, Range, Setting, load_sections, locate, render_template, spec
from ragft.config.settings import (
    TEMPLATE_HEADER,
    Config,
    CorpusConfig,
    DecodingConfig,
    EvaluationConfig,
    ModelsConfig,
    RequirementsConfig,
    RetrievalConfig,
    ServeConfig,
    TrainingConfig,
)

__all__ = [
    "DEFAULT_TOML",
    "Config",
    "ConfigError",
    "CorpusConfig",
    "DecodingConfig",
    "EvaluationConfig",
    "ModelsConfig",
    "Range",
    "RequirementsConfig",
    "RetrievalConfig",
    "ServeConfig",
    "Setting",
    "TrainingConfig",
    "config_from_dict",
    "edit_toml",
    "load_config",
    "spec",
]

DEFAULT_TOML = render_template(Config, TEMPLATE_HEADER)


def load_config(path: Path) -> Config:
    """Read `path` (a ragft.toml), checking every section, key and value against the schema."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file or recreate it with `ragft init`") from exc
    return config_from_dict(raw, source=str(path))


def config_from_dict(raw: Mapping[str, Any], *, source: str = "ragft.toml") -> Config:
    """Build a Config from nested dicts (parsed TOML); missing keys take defaults, anything wrong is a ConfigError."""
    config: Config = load_sections(Config, raw, source)
    return config


def edit_toml(text: str, settings: Mapping[str, Any], *, note: str = "", source: str = "ragft.toml") -> str:
    """`text` (a ragft.toml) with `settings` set, every other line and comment kept as it was.

    Keys are `key` (when one section has it) or `section.key`; values are Python values (str, int,
    float, bool, list). A `note` replaces the edited lines' trailing comment. The result is checked
    as `load_config` would, so a bad name or value raises ConfigError and nothing is returned.
    """
    try:
        document = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc}); fix the file or recreate it with `ragft init`") from exc
    for name, value in settings.items():
        try:
            section, key = locate(Config, name)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        if section not in document:
            document.add(section, tomlkit.table())
        table = cast(MutableMapping[str, Any], document[section])
        try:
            item = tomlkit.item(list(value) if isinstance(value, tuple) else value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: [{section}] {key} = {value!r} cannot be written as TOML ({exc})") from exc
        if note:
            item.comment(note)
            item.trivia.comment_ws = "  "
        table[key] = item
    edited = document.as_string()
    config_from_dict(tomllib.loads(edited), source=source)
    return edited
