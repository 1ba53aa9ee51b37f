"""Where the system lacks a POSIX or glibc call (Windows, a musl Linux), sentscore falls back instead of failing:
here no C library can be loaded at all, as on Windows, and training, its memory care and the atomic folder swap
still work."""

import re
import signal
from pathlib import Path

import pytest

import sentscore
from sentscore import TrainConfig, atomic, train

from .conftest import synthetic_rows, write_csv


@pytest.fixture
def no_c_library(monkeypatch):
    """The C library cannot be loaded (torch's own libraries still can)."""
    import ctypes.util

    real, c_library = ctypes.CDLL, {None, "libc.so.6", ctypes.util.find_library("c")}

    def load(name, *args, **kwargs):
        if name in c_library:
            raise OSError(f"no C library here: {name}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(ctypes, "CDLL", load)


def test_without_a_c_library_the_allocator_calls_are_skipped(no_c_library, monkeypatch):
    from sentscore.training.callbacks import ReleaseFreedMemory
    from sentscore.training.runtime import c_library_function, fix_malloc_mmap_threshold

    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert c_library_function("mallopt") is None
    fix_malloc_mmap_threshold()  # nothing to tune, nothing raised
    ReleaseFreedMemory().release()


def test_without_an_atomic_exchange_a_folder_is_replaced_by_two_renames(no_c_library, tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic.staged_folder(target) as staging:
        (staging / "new.txt").write_text("new")
        assert (target / "old.txt").read_text() == "old"  # the old folder stays whole until the new one is in
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # nothing left aside


def test_training_needs_no_c_library(no_c_library, tiny_model_dir, tmp_path):
    config = TrainConfig(
        model_name=str(tiny_model_dir),
        train_file=str(write_csv(tmp_path / "d.csv", synthetic_rows(6))),
        output_dir=str(tmp_path / "out"),
        num_train_epochs=1,
        max_length=16,
        onnx_export="none",
    )
    assert train(config, show_progress=False).metrics["accuracy"] is not None


#: Calls and modules that exist on POSIX systems only: none may be used outside a fallback.
POSIX_ONLY = re.compile(
    r"signal\.SIG(HUP|USR1|USR2|KILL|ALRM|CHLD|PIPE|QUIT)|os\.(fork|killpg|setsid|getuid|geteuid|sysconf|"
    r"sched_getaffinity)\b|^\s*(import|from) (fcntl|termios|resource|pwd|grp)\b",
    re.MULTILINE,
)


def test_the_package_calls_nothing_that_exists_on_posix_systems_only():
    package = Path(sentscore.__file__).parent
    found = [
        f"{path.relative_to(package)}: {match.group(0)}"
        for path in package.rglob("*.py")
        for match in POSIX_ONLY.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found, found
    assert {signal.SIGINT, signal.SIGTERM} <= set(signal.valid_signals())  # what the CLI stops on (Windows too)
