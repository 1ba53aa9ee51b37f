"""Which words pushed a sentence's score up and which pulled it down, by occlusion: the sentence is scored again
with each word left out, and a word's weight is how much its absence lowers the score. Occlusion needs only the
model's probabilities, so it works alike on the PyTorch and the ONNX backends."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class WordWeight:
    """A word of the sentence (its text and character span) and its weight: the expected score with the word
    minus without it, in score units (positive: it pushed the score up); for a scale without numbers, the
    predicted label's probability with it minus without it."""

    word: str
    start: int
    end: int
    weight: float

    def to_dict(self) -> dict[str, object]:
        return {"word": self.word, "start": self.start, "end": self.end, "weight": round(self.weight, 6)}


def words(text: str) -> list[re.Match[str]]:
    """The sentence's words: runs of non-space characters (punctuation stays with its word)."""
    return list(WORD.finditer(text))


def without(text: str, spans: Sequence[re.Match[str]], left_out: set[int]) -> str:
    """``text`` with the words at the positions ``left_out`` removed (words joined by single spaces)."""
    return " ".join(m.group() for i, m in enumerate(spans) if i not in left_out)


def occlusion_weights(
    texts: Sequence[str],
    probabilities: Callable[[list[str]], np.ndarray],
    weigh: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> list[list[WordWeight]]:
    """Each sentence's words with their weights. ``probabilities`` scores a list of texts; ``weigh`` takes a
    sentence's probabilities and those of its variants (one word left out each) and gives each word's weight.
    All the variants of all the sentences are scored in one call, so that batching makes them cheap."""
    variants, spans = occlusion_variants(texts)
    return weights_from(probabilities(variants), spans, weigh)


def occlusion_variants(texts: Sequence[str]) -> tuple[list[str], list[list[re.Match[str]]]]:
    """The texts to score: the sentences, then each sentence with one word left out in turn (a one-word
    sentence's word is weighed against "."), and each sentence's words."""
    spans = [words(text) for text in texts]
    variants = list(texts)
    for text, found in zip(texts, spans, strict=True):
        variants += [without(text, found, {i}) or "." for i in range(len(found))]
    return variants, spans


def weights_from(
    probs: np.ndarray, spans: list[list[re.Match[str]]], weigh: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> list[list[WordWeight]]:
    """The word weights from the probabilities of ``occlusion_variants``' texts."""
    explained, offset = [], len(spans)
    for index, found in enumerate(spans):
        weights = weigh(probs[index], probs[offset : offset + len(found)]) if found else []
        offset += len(found)
        explained.append(
            [WordWeight(m.group(), m.start(), m.end(), float(w)) for m, w in zip(found, weights, strict=True)]
        )
    return explained


def expected_score_change(base: np.ndarray, variants: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Weights in score units: the expected score with the word minus without it."""
    return (base - variants) @ values


def top_label_change(base: np.ndarray, variants: np.ndarray) -> np.ndarray:
    """Weights for a scale without numbers: the predicted label's probability with the word minus without it."""
    best = int(base.argmax())
    return base[best] - variants[:, best]
