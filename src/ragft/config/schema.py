"""The machinery behind the settings: one field per setting carries its default, doc, choices and range.

The section modules (assembled in `settings.py`) declare the sections with `setting(...)`; this module reads that declaration three
ways: it checks a parsed ragft.toml against it (`load_sections`), writes the commented template
from it (`render_template`), and resolves a setting's name for editing (`locate`). Nothing here
names a particular setting, so a new field is documented, validated and templated by being declared.
"""

from __future__ import annotations

import textwrap
import warnings
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any, ClassVar, TypeVar, cast

import tomlkit

from ragft.errors import RagftError

T = TypeVar("T")
COMMENT_WIDTH = 100


class ConfigError(RagftError, ValueError):
    """ragft.toml is malformed; the message names the file and the setting."""


@dataclass(frozen=True)
class Range:
    """The numbers a setting accepts: `low`..`high` (None = unbounded), each end closed unless `*_open`."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def __str__(self) -> str:
        low = None if self.low is None else f"{'above' if self.low_open else 'at least'} {self.low:g}"
        high = None if self.high is None else f"{'below' if self.high_open else 'at most'} {self.high:g}"
        if low and high and not (self.low_open or self.high_open):
            return f"{self.low:g} to {self.high:g}"
        return ", ".join(part for part in (low, high) if part)


def at_least(low: float) -> Range:
    return Range(low)


def above(low: float) -> Range:
    return Range(low, low_open=True)


def between(low: float, high: float, *, high_open: bool = False) -> Range:
    return Range(low, high, high_open=high_open)


@dataclass(frozen=True)
class Setting:
    """What a field's metadata says about it: the doc the template prints and what it accepts."""

    doc: str
    choices: tuple[Any, ...] = ()
    range: Range | None = None


def setting(default: T, *, doc: str, choices: tuple[T, ...] = (), range: Range | None = None) -> T:
    """A section field: its default, its doc (the template's comment) and the values it accepts."""
    if choices and default not in choices:
        raise TypeError(f"default {default!r} is not among the choices {choices!r}")
    return field(default=default, metadata={"ragft": Setting(" ".join(doc.split()), tuple(choices), range)})


@dataclass(frozen=True)  # a dataclass itself, so `fields()` type-checks on any section type
class Section:
    """Base of the section dataclasses: optional retired keys and a check across fields."""

    RETIRED: ClassVar[Mapping[str, str]] = {}  # key -> why it is gone; older ragft.toml files still load

    def problem(self) -> str | None:
        """A message when settings valid alone are not valid together (None when fine)."""
        return None


def spec(f: Field[Any]) -> Setting:
    """The `Setting` a section field was declared with."""
    return f.metadata["ragft"]


def sections(config_type: type) -> dict[str, type[Section]]:
    """Section name -> section dataclass, in file order."""
    return {f.name: cast(type[Section], f.default_factory) for f in fields(config_type)}


# ---------------------------------------------------------------- reading


def load_sections(config_type: type, raw: Mapping[str, Any], source: str) -> Any:
    """`config_type` built from parsed TOML; unknown names and bad values raise ConfigError."""
    known = sections(config_type)
    built = {}
    for name, table in raw.items():
        if name not in known:
            raise ConfigError(f"{source}: unknown section [{name}]; known: {', '.join(known)}")
        if not isinstance(table, Mapping):
            raise ConfigError(f"{source}: [{name}] must be a table of settings")
        built[name] = load_section(known[name], table, f"{source}: [{name}]")
    return config_type(**built)


def load_section(section_type: type[Section], table: Mapping[str, Any], where: str) -> Any:
    """One section from its TOML table; `where` (file and section) starts every message."""
    known = {f.name: f for f in fields(section_type)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in section_type.RETIRED:
            warnings.warn(f"{where}: '{key}' is no longer used ({section_type.RETIRED[key]}); delete the line", stacklevel=4)
        elif key not in known:
            raise ConfigError(f"{where} unknown setting '{key}'; known: {', '.join(known)}")
        else:
            values[key] = checked(known[key], value, where)
    section = section_type(**values)
    if problem := section.problem():
        raise ConfigError(f"{where} {problem}")
    return section


def checked(f: Field[Any], value: Any, where: str) -> Any:
    """`value` as field `f` stores it (ints widened to floats, lists to tuples), or ConfigError."""
    default, rule = f.default, spec(f)
    if isinstance(default, tuple):
        kind = type(default[0])
        if not isinstance(value, list) or not all(_is(v, kind) for v in value):
            raise ConfigError(f"{where} {f.name} = {value!r} must be {describe(default)}")
        items = [_widen(v, kind) for v in value]
    else:
        if not _is(value, type(default)):
            raise ConfigError(f"{where} {f.name} = {value!r} must be {describe(default)}")
        items = [_widen(value, type(default))]
    for item in items:
        if rule.choices and item not in rule.choices:
            raise ConfigError(f"{where} {f.name} = {value!r} is not known; choose one of: {', '.join(map(str, rule.choices))}")
        if rule.range is not None and item not in rule.range:
            raise ConfigError(f"{where} {f.name} = {value!r} is out of range; allowed: {rule.range}")
    return tuple(items) if isinstance(default, tuple) else items[0]


def describe(default: Any) -> str:
    """The kind of value a setting with this default takes, in words."""
    if isinstance(default, tuple):
        return f"a list of {describe(default[0]).removeprefix('a ')}s"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}[type(default)]


def _is(value: Any, kind: type) -> bool:
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    return isinstance(value, (int, float) if kind is float else kind)  # `max_file_mb = 50` is a float setting


def _widen(value: Any, kind: type) -> Any:
    return float(value) if kind is float else value


# ---------------------------------------------------------------- writing


def render_template(config_type: type, header: str) -> str:
    """The commented ragft.toml: each section's doc, then each field's doc above `key = default`."""
    lines = [*_comment(header)]
    for name, section_type in sections(config_type).items():
        lines += ["", f"[{name}]", *_comment(section_type.__doc__ or ""), ""]
        for f in fields(section_type):
            rule, many = spec(f), isinstance(f.default, tuple)
            value = tomlkit.item(list(f.default) if isinstance(f.default, tuple) else f.default).as_string()
            allowed = f"  # {'each ' if many else ''}{rule.range}" if rule.range else ""
            lines += [*_comment(rule.doc), f"{f.name} = {value}{allowed}"]
    return "\n".join(lines) + "\n"


def _comment(text: str) -> list[str]:
    """`text` (paragraphs split by blank lines) as wrapped `# ` lines."""
    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n") if p.strip()]
    return [f"# {line}" for p in paragraphs for line in textwrap.wrap(p, COMMENT_WIDTH - 2, break_on_hyphens=False)]


def locate(config_type: type, name: str) -> tuple[str, str]:
    """(section, key) for `key` (unique across sections) or `section.key`; ConfigError otherwise."""
    section, _, key = name.rpartition(".")
    found = [(s, key) for s, t in sections(config_type).items() if section in ("", s) and key in {f.name for f in fields(t)}]
    if len(found) == 1:
        return found[0]
    if not found:
        raise ConfigError(f"no setting '{name}'; write a key (e.g. 'k') or section.key (e.g. 'retrieval.k')")
    raise ConfigError(f"more than one setting '{name}' ({', '.join(f'{s}.{k}' for s, k in found)}); write section.key")
