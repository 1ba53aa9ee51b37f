"""Writes that land whole or not at all: a file is written beside its target and renamed over it, a folder is
built beside its target and swapped in, so that a crash, Ctrl-C or SIGKILL at any moment leaves either the old
artifact or the new one at the path, never half of one."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

#: renameat2's flag that swaps two paths in one step (Linux 3.15 and later, glibc 2.28 and later).
RENAME_EXCHANGE = 2
AT_FDCWD = -100


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file in the same folder, flushed, then renamed)."""
    with replacing(path) as temporary:
        temporary.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; when the block ends without error, the file is flushed
    to disk and renamed over ``path`` (atomic on POSIX), else removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _create_beside(path, _new_file)
    try:
        yield temporary
        _flush(temporary)
        os.replace(temporary, path)
        _flush_folder(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def replacing_with_companions(path: Path, *companions: str) -> Iterator[Path]:
    """A temporary path, named as ``path`` in an empty folder beside it, to write it to, with files beside it
    named ``companions`` (an ONNX graph and the external data it names, for instance). When the block ends
    without error, each file is flushed and renamed over its namesake beside ``path``: the companions first,
    ``path`` last, so that the file naming the others is the last to change. Companions get the mode the writer
    gave ``path``; one not written is removed beside ``path`` too (it belonged to the file replaced). The folder is
    removed in any case."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = _create_beside(path, os.mkdir)
    try:
        yield staging / path.name
        for name in companions:
            written = staging / name
            if written.exists():
                shutil.copymode(staging / path.name, written)  # some writers (onnx's) make private 0600 files
                _flush(written)
                os.replace(written, path.with_name(name))
            else:  # the replaced file's, which the new one does not name
                path.with_name(name).unlink(missing_ok=True)
        _flush(staging / path.name)
        os.replace(staging / path.name, path)
        _flush_folder(path.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """An empty folder beside ``target`` to build it in; when the block ends without error it takes
    ``target``'s place in one step (an existing ``target`` stays whole and usable until then, and is removed
    after), else it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _create_beside(target, os.mkdir)
    try:
        yield staging
        folder_mode = stat.S_IMODE(staging.stat().st_mode)  # 0777 less the umask, as os.mkdir made it
        for each in staging.rglob("*"):
            # Some writers (transformers' weights among them) leave private 0600 files: the folder is
            # published with the modes of ordinary files and folders.
            os.chmod(each, folder_mode if each.is_dir() else folder_mode & 0o666)
            if each.is_file():
                _flush(each)
        publish(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _create_beside(path: Path, create: Callable[[Path], None]) -> Path:
    """Create a new, uniquely named file or folder beside ``path`` with ``create``. Unlike ``tempfile``'s
    (mode 0600/0700, private), it gets the permissions of an ordinary file or folder under the process's umask,
    which it keeps when it is renamed into place."""
    for _ in range(100):
        candidate = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
        try:
            create(candidate)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"no free temporary name beside {path}")


def _new_file(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


def publish(staging: Path, target: Path) -> None:
    """Put the folder ``staging`` at ``target``: a rename when nothing is there, else an atomic exchange of
    the two (after which ``staging`` holds the old folder, removed by the caller)."""
    if not target.exists():
        os.rename(staging, target)
    elif not _exchange(staging, target):
        # No atomic exchange here (not Linux, or an old kernel): two renames, with the old folder kept aside
        # until the new one is in place.
        aside = staging.with_name(staging.name.replace(".partial", ".old"))
        os.rename(target, aside)
        os.rename(staging, target)
        os.rename(aside, staging)
    _flush_folder(target.parent)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step with renameat2(RENAME_EXCHANGE); False where the system cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    done = renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE)
    if done != 0:
        logger.debug("renameat2(RENAME_EXCHANGE) failed: %s", os.strerror(ctypes.get_errno()))
    return done == 0


def _flush(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _flush_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (where the system allows opening a folder)."""
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
