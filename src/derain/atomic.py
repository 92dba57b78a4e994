"""Atomic file writes: a temporary file beside the target, published under its final name.

Every file the project writes for a user (images, model weights, checkpoints, logs, reports) goes
through here, so a crash, a full disk, a kill or a bad input never leaves a partial or clobbered
file. Publishing without `overwrite` claims the name atomically (a hard link fails if the name is
taken), so of two runs writing the same output one wins and the other says so, instead of
silently replacing the first one's file. Files that belong together are published together
(`atomic_write_set`), and a run can remove the temporary files a killed one left beside its
outputs (`remove_temporaries`).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from derain.errors import DerainError

_NAME_MAX = 255  # bytes per file name on the usual file systems, when the folder does not say
_RANDOM_BYTES = 4  # 8 hex characters in each temporary name
_RANDOM = re.compile(f"[0-9a-f]{{{2 * _RANDOM_BYTES}}}")


def exists_error(target: Path) -> DerainError:
    """The one message for an output name that is taken, whether seen early or when publishing."""
    return DerainError(f"{target}: already exists (use --overwrite to replace it)")


def _name_max(folder: Path) -> int:
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no such folder (yet), or no pathconf (Windows)
        limit = -1
    return limit if limit > 0 else _NAME_MAX


def _temp_prefix(target: Path, tag: str, suffix: str) -> str:
    """`.NAME.TAG`, the fixed start of `target`'s temporary names: NAME is `target`'s name, cut so
    the whole temporary name fits the file system's limit however long the final name is."""
    room = _name_max(target.parent) - len(os.fsencode(f"..{tag}{suffix}")) - 2 * _RANDOM_BYTES
    name = target.name
    while name and len(os.fsencode(name)) > room:
        name = name[:-1]
    return f".{name}.{tag}"


def temp_sibling(target: Path, tag: str = "", suffix: str = "", folder: bool = False) -> Path:
    """Create a new hidden file (or folder) beside `target`, named `.NAME.TAG<random><suffix>`
    (see `_temp_prefix` for NAME).

    The mode follows the umask like any file the user creates (mkstemp and mkdtemp would make it
    private, and the published output with it).
    """
    prefix = _temp_prefix(target, tag, suffix)
    while True:
        path = target.parent / f"{prefix}{secrets.token_hex(_RANDOM_BYTES)}{suffix}"
        try:
            if folder:
                path.mkdir()
            else:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return path
        except FileExistsError:
            continue  # another run drew the same name: draw again
        except BaseException:  # e.g. SIGTERM just after the name was made: the caller never saw it
            with contextlib.suppress(OSError):
                if folder:
                    path.rmdir()
                else:
                    path.unlink()
            raise


def remove_temporaries(targets: Iterable[Path], tag: str = "") -> int:
    """Delete the temporary files a stopped run left beside `targets`, and return how many.

    A process killed outright (kill -9, or a Ray worker stopped with its job) cannot remove its own
    temporary file: the next run for the same outputs does it. Only names of `temp_sibling`'s exact
    pattern for these targets (no suffix, or the target's extension) are touched, never another file.
    """
    wanted: dict[Path, set[tuple[str, str]]] = {}
    for target in targets:
        for suffix in {"", target.suffix}:
            wanted.setdefault(target.parent, set()).add((_temp_prefix(target, tag, suffix), suffix))
    removed = 0
    for folder, names in wanted.items():
        suffixes = {suffix for _, suffix in names}
        try:
            entries = list(os.scandir(folder))
        except OSError:  # no folder, no leftovers
            continue
        for entry in entries:
            for suffix in suffixes:
                core = entry.name[:len(entry.name) - len(suffix)]
                prefix, random = core[:-2 * _RANDOM_BYTES], core[-2 * _RANDOM_BYTES:]
                if (entry.name.endswith(suffix) and (prefix, suffix) in names and _RANDOM.fullmatch(random)
                        and entry.is_file(follow_symlinks=False)):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                        removed += 1
                    break
    return removed


def _link_or_claim(tmp: Path, target: Path) -> bool:
    """Create `target` only if the name is free: as a hard link to `tmp` (True) or, on file
    systems without hard links (FAT, some network shares), as an empty placeholder (False)."""
    try:
        os.link(tmp, target)
        return True
    except FileExistsError:
        raise
    except OSError:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        return False


def publish(tmp: Path, target: Path, overwrite: bool) -> None:
    """Give the finished file `tmp` the name `target`, replacing an existing file only if `overwrite`."""
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        linked = _link_or_claim(tmp, target)
    except FileExistsError:
        raise exists_error(target) from None
    if not linked:
        try:
            os.replace(tmp, target)
        except BaseException:
            target.unlink(missing_ok=True)  # our own empty placeholder
            raise


def atomic_write(target: str | os.PathLike[str], write: Callable[[Path], object], suffix: str = "",
                 overwrite: bool = True) -> Path:
    """Call `write(tmp)` on a fresh temporary path in `target`'s folder, then publish it as `target`.

    `suffix` keeps the extension on the temporary name for writers that infer the format from it.
    `overwrite=False` refuses (with a `DerainError`) a `target` that exists when the file is
    published; the default replaces it, as checkpoints, logs and reports rewrite their own files.
    The temporary file is removed whatever happens; the folder must exist.
    """
    target = Path(target)
    tmp: Path | None = None
    try:  # made inside the `try`, so an interruption at any moment after it exists still removes it
        tmp = temp_sibling(target, suffix=suffix)
        write(tmp)
        publish(tmp, target, overwrite)
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return target


def atomic_write_set(files: Mapping[Path, Callable[[Path], object]], overwrite: bool = True) -> list[Path]:
    """Write files that belong together (a report's tables, a clip, its twin and their record) so
    that they appear together or not at all; returns their paths.

    Each `write(tmp)` fills a temporary name beside its target (with the target's extension, for
    writers that infer the format from it); only when all are written are they published. A
    failure while writing (a full disk) leaves none of them; without `overwrite`, a name taken
    meanwhile withdraws those already published. An OSError becomes a one-line `DerainError`
    naming the file. The folders must exist.
    """
    temps: dict[Path, Path] = {}
    published: list[Path] = []
    current: Path | None = None
    try:
        try:
            for current, write in files.items():
                temps[current] = temp_sibling(current, suffix=current.suffix)
                write(temps[current])
            for current, tmp in temps.items():
                publish(tmp, current, overwrite)
                published.append(current)
        except BaseException:
            if not overwrite:  # new files of this run only: nothing of anyone else's is lost
                for target in published:
                    target.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise DerainError(f"{current}: cannot write ({exc.strerror or exc})") from exc
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
    return list(files)


def atomic_write_text(target: str | os.PathLike[str], text: str, overwrite: bool = True) -> Path:
    """Atomically write `text` to `target` (see `atomic_write` for `overwrite`)."""
    return atomic_write(target, lambda p: p.write_text(text), overwrite=overwrite)


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes, overwrite: bool = True) -> Path:
    """Atomically write `data` to `target` (see `atomic_write` for `overwrite`)."""
    return atomic_write(target, lambda p: p.write_bytes(data), overwrite=overwrite)


def check_writable(folder: Path) -> None:
    """Create `folder` if needed and prove a file can be made in it, before any long work starts."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temp_sibling(folder / "probe").unlink()
    except OSError as exc:
        raise DerainError(f"{folder}: cannot write ({exc.strerror or exc})") from exc
