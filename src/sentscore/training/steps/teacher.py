"""Knowledge distillation's step: a teacher model's probabilities for the training sentences, and for sentences
nobody scored (``unlabelled_file``), become targets, so that a small, fast model learns the graded judgement of
a larger one (how much of each level it sees in a sentence), and learns it from more text than was labelled.
The targets and the loss: ``distillation.py``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import atomic
from ...data import load_unlabelled
from ...errors import SentscoreError
from ...model.folder import CHECKPOINT_DIR

if TYPE_CHECKING:
    from ...data import LabelledData, UnlabelledData
    from .run import Run

logger = logging.getLogger(__name__)

#: Where a run keeps its teacher's probabilities (in the folder's checkpoints), so that a resumed run does not
#: score its sentences again.
TEACHER_PROBABILITIES = "teacher-probabilities.json"


def teach(run: Run) -> None:
    """The step: the training sentences, and the unlabelled ones when the config gives a file of them, get the
    distributions of the config's teacher."""
    run.unlabelled = read_unlabelled(run)
    started = time.perf_counter()
    texts = {"labelled": run.train_data.texts, "unlabelled": run.unlabelled.texts if run.unlabelled else []}
    probs = teacher_probabilities(run, run.config.teacher, texts)
    run.recorded["teacher"] = {"scoring_seconds": round(time.perf_counter() - started, 2)}
    run.train_data = dataclasses.replace(run.train_data, teacher_probs=probs["labelled"])
    if run.unlabelled is not None:
        run.unlabelled = dataclasses.replace(run.unlabelled, teacher_probs=probs["unlabelled"])


def read_unlabelled(run: Run) -> UnlabelledData | None:
    """The config's unlabelled sentences less those of the run's labelled data (None when it names no file)."""
    if not run.config.unlabelled_file:
        return None
    labelled = [*run.train_data.texts, *run.validation_data.texts]
    return load_unlabelled(run.config.unlabelled_file, run.config.text_column, labelled)


def teacher_probabilities(run: Run, teacher: str, texts: dict[str, list[str]]) -> dict[str, list[list[float]]]:
    """The probabilities ``teacher`` gives each list of ``texts``: kept in the run's checkpoints and read back
    from there when resuming the same run (the same teacher and texts)."""
    key = _fingerprint(teacher, texts)
    kept = Path(run.config.output_dir) / CHECKPOINT_DIR / TEACHER_PROBABILITIES
    if run.config.resume and kept.is_file():
        record = json.loads(kept.read_text(encoding="utf-8"))
        if record.get("fingerprint") == key:
            logger.info("Resuming: the teacher's probabilities come from %s", kept)
            run.resumed_before_fit = True
            return record["probabilities"]
    scorer = teacher_scorer(teacher, run.train_data)
    started, probabilities = time.perf_counter(), {}
    for name, some in texts.items():
        probabilities[name] = _scored(scorer, some, run.show_progress)
    logger.info(
        "The teacher scored %s sentences in %.0f s",
        " and ".join(f"{len(some)} {name}" for name, some in texts.items() if some),
        time.perf_counter() - started,
    )
    atomic.write_text(kept, json.dumps({"teacher": teacher, "fingerprint": key, "probabilities": probabilities}))
    return probabilities


def teacher_scorer(teacher: str, data: LabelledData) -> Any:
    """The teacher's scorer, which must score the levels of ``data``."""
    from ...scoring.scorer import Scorer

    try:
        scorer = Scorer.load(teacher, backend="torch")
    except SentscoreError as exc:
        raise SentscoreError(
            f"teacher: {exc.message}", hint="Give teacher a model folder that sentscore train wrote."
        ) from None
    if tuple(scorer.scale.labels) != tuple(data.scale.labels):
        raise SentscoreError(
            f"the teacher {teacher} scores the levels {', '.join(scorer.scale.labels)}, but {data.source} has "
            f"{', '.join(data.scale.labels)}",
            hint="Use a teacher trained on the same levels (the same kind of data), or leave teacher unset.",
        )
    return scorer


def _scored(scorer: Any, texts: list[str], show_progress: bool) -> list[list[float]]:
    from ...scoring.scorer import progress_bar

    if not texts:
        return []
    with progress_bar(len(texts), show_progress, "Teacher scoring") as advance:
        probs = scorer.predict_proba(texts, progress=advance)
    return probs.astype(float).round(6).tolist()


def _fingerprint(teacher: str, texts: dict[str, list[str]]) -> str:
    """What the teacher's probabilities depend on: its weights (their files' sizes and times) and the texts."""
    digest = hashlib.sha256()
    weights = sorted(Path(teacher).glob("*.safetensors"))
    digest.update(json.dumps([(w.name, w.stat().st_size, w.stat().st_mtime_ns) for w in weights]).encode())
    for name, some in texts.items():
        digest.update(name.encode())
        for text in some:
            digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()
