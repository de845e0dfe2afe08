"""Which files an ingest reads, and reading them safely.

A folder is walked without following symbolic links: a link is reported as skipped, unless the
caller opts in (`follow_symlinks`), and even then only a link whose target stays inside the folder
given (and is not hidden there) is followed. A followed link is typed by its target's name, never
its own. Devices, FIFOs and sockets are refused before anything opens them; a file is read with
`O_NOFOLLOW | O_NONBLOCK` and checked again on the open descriptor, so a path swapped for a link
or a FIFO meanwhile cannot hang the ingest or read outside the folder, and no read goes past the
size limit plus one byte.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ragft.corpus.problems import FileProblem, LoadError, display_path

_FOLLOW_ADVICE = "ingest its target's folder instead, or pass --follow-symlinks (links that stay inside the folder only)"


@dataclass(frozen=True)
class SourceFile:
    """One file to load: where to read it, its document id, and the type to load it as."""

    path: Path  # the file itself, or a followed link's resolved target
    doc_id: str
    root: Path
    explicit: bool  # named by the caller, not found by walking a folder
    suffix: str  # lower-case, from `path` (so a link's own name never picks the loader)


def find_files(
    paths: Sequence[Path],
    supported: Sequence[str],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    follow_symlinks: bool = False,
) -> tuple[list[SourceFile], list[FileProblem]]:
    """Files to load under `paths` (folders recursively), filtered by glob patterns on the relative path."""
    walk = _Walk(supported, include, exclude, follow_symlinks)
    for given in paths:
        walk.given(given.expanduser())
    return walk.found, walk.problems


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file, never more than `max_bytes` (LoadError beyond); links and special files refused."""
    kind = _kind(_lstat(path).st_mode)
    if kind != "file":
        raise _not_a_file(kind)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _os_problem(exc) from None
    try:
        opened = os.fstat(fd)
        if _kind(opened.st_mode) != "file":  # swapped since the lstat
            raise _not_a_file(_kind(opened.st_mode))
        if opened.st_size > max_bytes:
            raise _too_large(opened.st_size, max_bytes)
        data = _read_at_most(fd, max_bytes + 1)
    except OSError as exc:
        raise _os_problem(exc) from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # grew while being read
        raise _too_large(len(data), max_bytes)
    return data


def _read_at_most(fd: int, limit: int) -> bytes:
    parts, total = [], 0
    while total < limit:
        part = os.read(fd, min(1 << 20, limit - total))
        if not part:
            break
        parts.append(part)
        total += len(part)
    return b"".join(parts)


class _Walk:
    """Collects files and problems for `find_files`, one given path at a time."""

    def __init__(self, supported: Sequence[str], include: Sequence[str], exclude: Sequence[str], follow: bool) -> None:
        self.supported, self.include, self.exclude, self.follow = tuple(supported), include, exclude, follow
        self.found: list[SourceFile] = []
        self.problems: list[FileProblem] = []

    def problem(self, path: Path | str, problem: str, advice: str, *, skipped: bool = False) -> None:
        self.problems.append(FileProblem(display_path(path), problem, advice, skipped=skipped))

    def given(self, path: Path) -> None:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            self.problem(path, "no such file or folder", "check the path")
            return
        except OSError as exc:
            self.problem(path, f"cannot read ({exc.strerror or exc})", "check the path and its permissions")
            return
        if stat.S_ISDIR(mode) or (stat.S_ISLNK(mode) and path.is_dir()):
            self.folder(path.resolve())  # a folder the caller named, even through a link, is the root
            return
        if not _utf8(str(path)):
            self.problem(path, "file name is not valid UTF-8", "rename it (e.g. `convmv -f latin1 -t utf-8`)")
            return
        if stat.S_ISLNK(mode):
            self.link(path, path.parent.resolve(), path.name, explicit=True)
            return
        if _kind(mode) != "file":
            self.problem(path, f"not a regular file ({_kind(mode)})", "only regular files are ingested")
            return
        resolved = path.resolve()
        self.found.append(SourceFile(resolved, path.name, resolved, explicit=True, suffix=resolved.suffix.lower()))

    def folder(self, root: Path) -> None:
        visited, stack = {root}, [(root, "")]
        while stack:
            directory, prefix = stack.pop()
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError as exc:
                self.problem(directory, f"cannot list the folder ({exc.strerror or exc})", "check its permissions")
                continue
            subfolders = []
            for entry in entries:
                if not entry.name.startswith("."):  # hidden files and folders (.git, .ragft, .DS_Store)
                    subfolder = self.entry(Path(entry.path), prefix + entry.name, root)
                    if subfolder is not None and subfolder not in visited:
                        visited.add(subfolder)
                        subfolders.append((subfolder, prefix + entry.name + "/"))
            stack.extend(reversed(subfolders))

    def entry(self, path: Path, rel: str, root: Path) -> Path | None:
        """Record one walked entry; returns the real folder to walk next when it is one."""
        if not _utf8(rel):
            self.problem(path, "file name is not valid UTF-8", "rename it (e.g. `convmv -f latin1 -t utf-8`)")
            return None
        try:
            mode = path.lstat().st_mode
        except OSError as exc:
            self.problem(path, f"cannot read ({exc.strerror or exc})", "check its permissions")
            return None
        if stat.S_ISLNK(mode):
            return self.link(path, root, rel, explicit=False)
        if stat.S_ISDIR(mode):
            return path
        self.add(path, rel, root, _kind(mode), explicit=False)
        return None

    def link(self, path: Path, root: Path, rel: str, *, explicit: bool) -> Path | None:
        if not self.follow:
            self.problem(path, "symbolic link, not followed", _FOLLOW_ADVICE, skipped=True)
            return None
        try:
            target = path.resolve(strict=True)
            mode = target.stat().st_mode
        except (OSError, RuntimeError) as exc:  # RuntimeError: a link loop on older Pythons
            self.problem(path, f"symbolic link to nothing readable ({getattr(exc, 'strerror', None) or exc})", "fix or remove the link")
            return None
        if not target.is_relative_to(root) or any(part.startswith(".") for part in target.relative_to(root).parts):
            self.problem(
                path,
                "symbolic link to a file outside the folder (or a hidden one): not followed",
                "copy the file into the folder if it belongs there",
            )
            return None
        if stat.S_ISDIR(mode):
            return None if explicit else target
        self.add(target, rel, target if explicit else root, _kind(mode), explicit=explicit)
        return None

    def add(self, path: Path, rel: str, root: Path, kind: str, *, explicit: bool) -> None:
        if not _selected(rel, self.include, self.exclude):
            return
        if kind != "file":
            self.problem(path, f"not a regular file ({kind})", "devices, FIFOs and sockets are never read", skipped=not explicit)
        elif path.suffix.lower() not in self.supported:
            self.problem(path, f"unsupported type '{path.suffix or path.name}'", "skipped", skipped=True)
        else:
            self.found.append(SourceFile(path, rel, root, explicit=explicit, suffix=path.suffix.lower()))


def _selected(rel: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    if include and not any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(name, pat) for pat in include):
        return False
    return not any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(name, pat) for pat in exclude)


def _kind(mode: int) -> str:
    kinds = (
        (stat.S_ISREG, "file"),
        (stat.S_ISDIR, "folder"),
        (stat.S_ISLNK, "symbolic link"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    )
    return next((name for test, name in kinds if test(mode)), "special file")


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _lstat(path: Path) -> os.stat_result:
    try:
        return path.lstat()
    except OSError as exc:
        raise _os_problem(exc) from None


def _not_a_file(kind: str) -> LoadError:
    if kind == "symbolic link":
        return LoadError("a symbolic link (not followed)", _FOLLOW_ADVICE)
    return LoadError(f"not a regular file ({kind})", "only regular files are ingested; devices, FIFOs and sockets are never read")


def _too_large(size: int, max_bytes: int) -> LoadError:
    return LoadError(
        f"too large ({size / 1024 / 1024:.1f} MB > max_file_mb {max_bytes / 1024 / 1024:g})",
        "split the file, or raise [corpus] max_file_mb in ragft.toml",
    )


def _os_problem(exc: OSError) -> LoadError:
    if isinstance(exc, PermissionError):
        return LoadError("permission denied", "make the file readable (chmod) or leave it out")
    if exc.errno == errno.ELOOP:
        return _not_a_file("symbolic link")
    return LoadError(f"cannot read ({exc.strerror or exc})", "check the path exists and is a regular file")
