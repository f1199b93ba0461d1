"""Sources (files, folders, globs) -> the entries a batch plans, and what is wrong with an entry.

What is followed: symbolic links to files and to folders, so a link in an inbox works like the
thing it names. A file reached by two paths is planned once, under its real path; a folder
reached twice is walked once. A link to a folder that contains the link (a loop) is not followed
and becomes one entry. Hidden entries (a leading `.`) are not searched; files whose suffix is not
supported are skipped (and listed as skipped), whatever they are.

Every other entry a walk meets is planned, even when it cannot be read: a FIFO, socket or device,
a link that loops or leads nowhere, a file that cannot be opened, a folder that cannot be listed.
`entry_problem` says what is wrong with it, from `stat` alone (nothing but a regular file is ever
opened), and the item becomes a reject with that reason instead of disappearing.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from docmill.tasks.records import ItemRejected

# Suffix -> format; each may also carry a ".gz" suffix.
FORMATS: dict[str, str] = {".txt": "txt", ".text": "txt", ".md": "md", ".csv": "csv"}
FORMATS |= {".html": "html", ".htm": "html", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_GLOB_CHARS = frozenset("*?[")
_SPECIAL_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


class SourceNotFound(ValueError):
    """A source (file, folder or glob) that names no input file."""

    def __init__(self, source: str, detail: str | None = None) -> None:
        suffixes = ", ".join(FORMATS)
        detail = detail or "no such file or directory"
        super().__init__(
            f"source {source!r}: {detail}; expected a file, a directory or a glob pattern "
            f"matching files ending in {suffixes} (optionally .gz)"
        )
        self.source = source


class SourceScan(NamedTuple):
    # Files to process, and entries that will be rejects (special files, broken links,
    # folders that could not be listed or that loop).
    paths: list[Path]
    skipped: list[Path]  # files in folders or glob matches skipped for their suffix


def file_format(path: Path | str) -> tuple[str | None, bool]:
    """(format, gzipped) of a file name; format None for an unsupported suffix."""
    name = Path(path).name.lower()
    return FORMATS.get(Path(name.removesuffix(".gz")).suffix), name.endswith(".gz")


def scan_sources(sources: Sequence[str]) -> SourceScan:
    """Like `resolve_sources`, also returning the files folders and globs held but were skipped."""
    found: set[Path] = set()
    skipped: set[Path] = set()
    for source in sources:
        path = Path(source).expanduser()
        try:
            is_dir = stat.S_ISDIR(os.stat(path).st_mode)
        except OSError as exc:
            if os.path.lexists(path):  # a named link that loops or leads nowhere: a reject
                found.add(identity_path(path))
                continue
            if not _GLOB_CHARS.intersection(source):
                denied = exc.errno in (errno.EACCES, errno.EPERM)
                raise SourceNotFound(source, exc.strerror if denied else None) from None
            entries = list(_glob(str(path)))
        else:
            if not is_dir:  # named explicitly: any suffix is read as text, any kind is planned
                found.add(identity_path(path))
                continue
            entries = list(_walk(path))
        files = [p for p, is_folder in entries if not is_folder]
        wanted = {identity_path(p) for p, is_folder in entries if is_folder or file_format(p)[0]}
        if not wanted:
            detail = f"none of its {len(files)} file(s) has a supported suffix" if files else ""
            raise SourceNotFound(source, detail or "matched no file")
        found |= wanted
        skipped.update(identity_path(f) for f in files if not file_format(f)[0])
    return SourceScan(paths=sorted(found), skipped=sorted(skipped - found))


def describe_skipped(skipped: Sequence[Path]) -> str | None:
    """One line for the files folders and globs held that a run leaves out for their suffix
    (None when there are none): how many, of which suffixes, and what would read them."""
    if not skipped:
        return None
    by_suffix = Counter(Path(path).suffix.lower() or "no suffix" for path in skipped)
    shown = ", ".join(f"{suffix} {n}" for suffix, n in by_suffix.most_common(5))
    if len(by_suffix) > 5:
        shown += f", {len(by_suffix) - 5} other suffixes"
    supported = " ".join(sorted(FORMATS)) + " (and .gz of each)"
    return (
        f"{len(skipped)} file(s) left out for their suffix ({shown}); docmill reads {supported} "
        "from folders and globs; name a file itself to read it as text"
    )


def resolve_sources(sources: Sequence[str]) -> list[Path]:
    """Entries named by `sources` (files, folders searched recursively, globs): sorted, absolute;
    see the module docstring for what is followed."""
    return scan_sources(sources).paths


def identity_path(path: Path | str) -> Path:
    """The absolute path an entry is known by: a regular file's real path (so two links to one
    file are one item); anything else keeps its own name, so a reject names the link or folder
    that is wrong, not what it points at."""
    path = Path(os.path.abspath(path))
    try:
        if stat.S_ISREG(os.stat(path).st_mode):
            return path.resolve()
    except (OSError, RuntimeError):
        pass
    try:
        return path.parent.resolve() / path.name
    except (OSError, RuntimeError):  # Python 3.11 raises RuntimeError for a looping parent
        return path


# --- walking --------------------------------------------------------------------------------

_Entry = tuple[Path, bool]  # (path, is_folder): folders are entries only when they cannot be walked


def _walk(root: Path) -> Iterator[_Entry]:
    """Files under `root` in name order, following links; see `_walk_matching`."""
    return _walk_matching(root, None)


def _walk_matching(root: Path, pattern: list[str] | None) -> Iterator[_Entry]:
    """Files under `root` whose relative path matches `pattern` (glob parts; None: every file),
    and the folders among them that cannot be listed or that loop, as (path, True)."""
    try:
        root_stat = os.stat(root)
    except OSError:
        yield root, True
        return
    seen = {_key(root_stat)}
    # (folder, relative parts, inside a folder the pattern matched, keys of the folders above)
    stack = [(root, (), pattern is None, frozenset(seen))]
    while stack:
        folder, rel, matched, ancestors = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError:
            yield folder, True
            continue
        below = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path, parts = folder / entry.name, (*rel, entry.name)
            hit = matched or _matches(parts, pattern)
            if entry.is_file(follow_symlinks=False):  # from the listing itself: no stat
                if hit:
                    yield path, False
                continue
            try:
                info = entry.stat()  # follows links
            except OSError:  # a loop, a dangling link, no permission: planned, then rejected
                if hit:
                    yield path, False
                continue
            if not stat.S_ISDIR(info.st_mode):
                if hit:
                    yield path, False
                continue
            if not (hit or _may_contain(parts, pattern)):
                continue
            if _key(info) in ancestors:
                yield path, True  # a link back to a folder above it
            elif _key(info) not in seen:  # else walked by another path: its files are planned
                seen.add(_key(info))
                below.append((path, parts, hit, ancestors | {_key(info)}))
        stack.extend(reversed(below))


def _key(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _glob(pattern: str) -> Iterator[_Entry]:
    """Entries matching a glob (`**` spans folders), walked like a folder from its fixed part."""
    parts = Path(pattern).parts
    fixed = next((i for i, part in enumerate(parts) if _GLOB_CHARS.intersection(part)), len(parts))
    root = Path(*parts[:fixed]) if fixed else Path(".")
    if not root.is_dir():
        return iter(())
    return _walk_matching(root, list(parts[fixed:]))


def _matches(parts: Sequence[str], pattern: Sequence[str] | None) -> bool:
    if pattern is None:
        return True
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return _matches(parts, pattern[1:]) or (bool(parts) and _matches(parts[1:], pattern))
    return (
        bool(parts)
        and fnmatch.fnmatchcase(parts[0], pattern[0])
        and _matches(parts[1:], pattern[1:])
    )


def _may_contain(parts: Sequence[str], pattern: Sequence[str] | None) -> bool:
    """Whether a folder at `parts` can hold a match of `pattern` below it."""
    if pattern is None or not parts:
        return True
    if not pattern:
        return False
    if pattern[0] == "**":
        return True
    return fnmatch.fnmatchcase(parts[0], pattern[0]) and _may_contain(parts[1:], pattern[1:])


# --- what is wrong with an entry -------------------------------------------------------------


def entry_problem(path: Path | str) -> ItemRejected | None:
    """Why the entry at `path` cannot be read as a file, or None for a regular file. Never
    opens anything: decided from `stat` (following links) and, for a folder, a listing."""
    path = Path(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        return _stat_problem(path, exc)
    if stat.S_ISREG(info.st_mode):
        return None
    if stat.S_ISDIR(info.st_mode):
        return _folder_problem(path)
    kind = _SPECIAL_KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
    return ItemRejected(
        "special_file", f"{path}{_via(path)} is {kind}, not a regular file; not opened"
    )


def _stat_problem(path: Path, exc: OSError) -> ItemRejected:
    if exc.errno == errno.ELOOP:
        detail = f"{path} is a symbolic link that loops ({exc.strerror}); not followed"
        return ItemRejected("symlink_loop", detail)
    if exc.errno == errno.ENOENT and os.path.islink(path):
        detail = f"{path} is a symbolic link to {os.readlink(path)}, which does not exist"
        return ItemRejected("dangling_symlink", detail)
    return ItemRejected("unreadable", f"{path}: {exc.strerror}")


def _folder_problem(path: Path) -> ItemRejected:
    if path.is_symlink():
        target, parent = os.path.realpath(path), os.path.realpath(path.parent)
        if parent == target or parent.startswith(target.rstrip(os.sep) + os.sep):
            detail = f"{path} links to {target}, a folder that contains the link; not followed"
            return ItemRejected("symlink_loop", detail)
    try:
        with os.scandir(path):
            pass
    except OSError as exc:
        detail = (
            f"folder {path} could not be listed ({exc.strerror}); none of its files were planned"
        )
        return ItemRejected("unreadable_folder", detail)
    detail = f"{path} is a folder that can be listed now; plan its source again for its files"
    return ItemRejected("changed", detail)


def _via(path: Path) -> str:
    return f" (a link to {os.path.realpath(path)})" if path.is_symlink() else ""
