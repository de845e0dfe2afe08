"""Front matter at the top of a Markdown file: YAML between `---` fences, or TOML between `+++`.

Access tags live here, so reading it fails closed. A file whose first line of content (after blank
lines and HTML comments) is a fence is taken to have front matter; if that front matter cannot be
parsed, is not a table of fields, or gives `acl` a wrong type, loading raises `LoadError`, and the
ingest keeps the file's previous version: never a public document by accident. An `acl:` line
near the top that no front matter carried (a comment line before the fence, say) fails the same way.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import Any

import yaml

from ragft.corpus.problems import LoadError, printable

_FENCE_LIKE = re.compile(r"^(-{3,}|\+{3,})$")
_CLOSERS = {"---": ("---", "..."), "+++": ("+++",)}
_STRAY_ACL = re.compile(r"^\W{0,4}acl\s*[:=]", re.IGNORECASE)
_STRAY_ACL_LINES = 20  # how far into the body an `acl:` line means the author meant access tags
_INVISIBLE = " \t\xa0\u200b\ufeff"
_ADVICE = "fix the front matter (YAML between '---' lines, or TOML between '+++' lines), e.g. ---\\nacl: [hr]\\n---"


@dataclass(frozen=True)
class FrontMatter:
    """What the front matter said, and the text after it."""

    body: str
    title: str | None = None
    acl: frozenset[str] | None = None  # None: the file states no access tags


def split_front_matter(text: str) -> FrontMatter:
    """The front matter's title and access tags, and the body after it; LoadError when it cannot be read."""
    lines = text.split("\n")
    start = _first_content_line(lines)
    if start is None or not _FENCE_LIKE.match(lines[start].strip(_INVISIBLE)):
        _refuse_stray_acl(lines[start or 0 :], start or 0)
        return FrontMatter(body=text)
    fence = lines[start].strip(_INVISIBLE)
    if fence not in _CLOSERS:
        raise LoadError(f"line {start + 1}: front matter fence '{fence}' is not '---' or '+++'", _ADVICE)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].strip(_INVISIBLE) in _CLOSERS[fence]), None)
    if end is None:
        raise LoadError(f"line {start + 1}: front matter opened by '{fence}' is never closed", _ADVICE)
    fields = _parse("\n".join(lines[start + 1 : end]), fence, start + 2)
    body = "\n".join(lines[end + 1 :])
    acl = parse_acl(fields["acl"], "front matter 'acl'") if "acl" in fields else None
    if acl is None:
        _refuse_stray_acl(lines[end + 1 :], end + 1)
    return FrontMatter(body=body, title=_title(fields.get("title")), acl=acl)


def parse_acl(value: Any, where: str) -> frozenset[str]:
    """Access tags from a string ("hr, legal") or a list of strings; LoadError for any other shape.

    An empty string or list states "public"; null states nothing and is refused as ambiguous.
    """
    if value is None:
        raise LoadError(f"{where} is empty (null)", "list the groups (acl: [hr, legal]), or write acl: [] to mean public")
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise LoadError(f"{where} must be a group name or a list of names, not {type(value).__name__}", "write e.g. acl: [hr, legal]")
    groups: set[str] = set()
    for n, item in enumerate(items, start=1):
        if not isinstance(item, str):
            raise LoadError(f"{where} item {n} is {type(item).__name__}, not a group name", "quote it: acl: ['2024']")
        for group in (part.strip() for part in item.split(",")):
            if group != printable(group):
                raise LoadError(f"{where} item {n} has control characters ({printable(group)})", "use plain group names")
            if group:
                groups.add(group)
    if not isinstance(value, str) and items and not groups:
        raise LoadError(f"{where} lists only empty names", "list the groups, or write acl: [] to mean public")
    return frozenset(groups)


def _first_content_line(lines: list[str]) -> int | None:
    """Index of the first line that is not blank and not inside an HTML comment."""
    in_comment = False
    for i, line in enumerate(lines):
        stripped = line.strip(_INVISIBLE)
        if in_comment:
            in_comment = "-->" not in stripped
        elif stripped.startswith("<!--"):
            in_comment = "-->" not in stripped[4:]
        elif stripped:
            return i
    return None


def _refuse_stray_acl(lines: list[str], offset: int) -> None:
    seen = 0
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        if _STRAY_ACL.match(line.strip(_INVISIBLE)):
            raise LoadError(
                f"line {offset + i + 1}: an 'acl' line outside any front matter (it would not be applied)",
                "put it in front matter at the very top: ---\\nacl: [hr]\\n--- (or remove the line)",
            )
        seen += 1
        if seen >= _STRAY_ACL_LINES:
            return


def _parse(source: str, fence: str, first_line: int) -> dict[str, Any]:
    kind = "YAML" if fence == "---" else "TOML"
    try:
        data = yaml.load(source, Loader=_StrictYamlLoader) if kind == "YAML" else tomllib.loads(source)
    except (yaml.YAMLError, tomllib.TOMLDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise LoadError(f"front matter (from line {first_line}) is not valid {kind}: {printable(_first_line(exc))}", _ADVICE) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise LoadError(f"front matter (from line {first_line}) is a {type(data).__name__}, not 'key: value' fields", _ADVICE)
    fields: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).strip().lower()
        if name in fields:
            raise LoadError(f"front matter has '{printable(name)}' twice (names ignore case)", "keep one of them")
        fields[name] = value
    return fields


def _title(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value).strip() or None


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


class _StrictYamlLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a key given twice: the last `acl:` silently winning would fail open."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key; construct_mapping raises the proper error for it
            break
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictYamlLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
