"""One sentence's answer: its score, the confidence, the expected score, the probabilities and its score set."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Prediction:
    """One sentence's score. ``score`` is the most likely label (an int for numeric scales), ``confidence``
    its probability, ``expected_score`` the probability-weighted mean Σ k·p(k) (numeric scales only), and
    ``score_set`` (when asked for) the scores of its conformal set, in the scale's order (a set of the
    likeliest scores may have a gap: 1 and 5, when the model is torn between them), and ``set_text`` that set
    as a person reads it ("2-4", "1 or 5"). A blank or missing sentence scored with ``blank_rows="skip"`` has
    every field None and ``blank`` true."""

    score: int | float | str | None
    confidence: float | None
    expected_score: float | None
    probs: dict[str, float] = field(default_factory=dict)
    score_set: tuple[int | float | str, ...] | None = None
    set_text: str | None = None

    @property
    def blank(self) -> bool:
        """The sentence was blank or missing, so it has no score (``blank_rows="skip"``)."""
        return self.score is None

    def to_dict(self, with_probs: bool = False) -> dict[str, Any]:
        if self.blank:
            return {"score": None, "confidence": None, "expected_score": None, "blank": True}
        result: dict[str, Any] = {
            "score": self.score,
            "confidence": round(self.confidence, 6),
            "expected_score": None if self.expected_score is None else round(self.expected_score, 6),
        }
        if self.score_set is not None:
            result["set"] = [self.score_set[0], self.score_set[-1]]  # its lowest and highest score
            result["set_levels"] = list(self.score_set)
            result["set_text"] = self.set_text
        if with_probs:
            result["probs"] = {k: round(v, 6) for k, v in self.probs.items()}
        return result
