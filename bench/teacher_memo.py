"""A teacher's probabilities kept per sentence across benchmark runs, and the bench-only ways to reshape them.

Distillation runs spend most of their time on the teacher scoring thousands of sentences, the same sentences
run after run (every configuration of one seed, every seed of a whole data set's one teacher). A sentence's
probabilities do not depend on its batch (the scorer's contract, tested in tests/test_predict.py), so they are
kept beside the teacher's model, one entry per sentence, and scored once. Only the teacher's scorer is wrapped,
and only inside :func:`teaching`.

Bench-only knobs (popped from a configuration's overrides before it becomes a TrainConfig):
- ``bench:teacher_temperature``: the teacher's distribution sharpened (below 1) or softened (above 1) as
  ``p ** (1 / T)`` renormalised; 0 stands for its most probable level alone (hard pseudo-labels).
- ``bench:confident``: only the unlabelled sentences whose most probable level the teacher gives at least this
  probability are kept (confidence filtering).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

TEMPERATURE = "bench:teacher_temperature"
CONFIDENT = "bench:confident"
KNOBS = (TEMPERATURE, CONFIDENT)


def memo_file(teacher: Path) -> Path:
    return teacher.with_name(teacher.name + ".memo.json")


def _read(path: Path) -> dict[str, list[float]]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _write(path: Path, new: dict[str, list[float]]) -> None:
    """Adds ``new`` to the memo on disk (read again first: another run may have added to it meanwhile)."""
    merged = {**_read(path), **new}
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(merged), encoding="utf-8")
    temporary.replace(path)


def reshaped(probs: np.ndarray, temperature: float | None) -> np.ndarray:
    """``probs`` at ``temperature`` (None: as they are; 0: one-hot at the most probable level)."""
    if temperature is None:
        return probs
    if temperature == 0:
        return np.eye(probs.shape[1], dtype=probs.dtype)[probs.argmax(1)]
    powered = probs.astype(np.float64) ** (1.0 / temperature)
    return (powered / powered.sum(1, keepdims=True)).astype(probs.dtype)


def teacher_probabilities(teacher: Path, texts: list[str]) -> np.ndarray:
    """The teacher's probabilities for ``texts``, from the memo, scoring (once, batched) the sentences it lacks."""
    from sentscore import Scorer

    with teaching(teacher):
        return Scorer.load(teacher, backend="torch").predict_proba(texts)


@contextlib.contextmanager
def teaching(teacher: Path, temperature: float | None = None) -> Iterator[None]:
    """Within it, the scorer of ``teacher`` answers from the memo (and adds what it scores to it), reshaped by
    ``temperature``; every other scorer scores as always."""
    from sentscore import Scorer

    original = Scorer.predict_proba
    path, teacher = memo_file(teacher), teacher.resolve()

    def predict_proba(self, texts, progress=None):  # noqa: ANN001, ANN202 - Scorer.predict_proba's own signature
        if Path(self.model_dir).resolve() != teacher:
            return original(self, texts, progress)
        texts = [str(text) for text in texts]
        memo = _read(path)
        missing = sorted({text for text in texts if text not in memo})
        if missing:
            scored = original(self, missing, progress)
            new = {text: [round(float(p), 6) for p in row] for text, row in zip(missing, scored, strict=True)}
            _write(path, new)
            memo.update(new)
        elif progress is not None:
            progress(len(texts))
        probs = np.asarray([memo[text] for text in texts], dtype=np.float32)
        return reshaped(probs, temperature)

    Scorer.predict_proba = predict_proba
    try:
        yield
    finally:
        Scorer.predict_proba = original
