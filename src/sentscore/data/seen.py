"""Which sentences a model has seen: a fingerprint of its training and validation sentences (a short hash of
each, kept in the model folder), so that an evaluation can say how much of a file is not held out. The texts
themselves are never stored."""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from collections.abc import Iterable, Sequence

#: Bytes kept of each sentence's SHA-256: two different sentences share them about once in 2^24 pairs at a
#: million sentences a side, so a count of overlapping sentences is exact for any data set sentscore trains on.
DIGEST_BYTES = 6

#: How a sentence is made comparable before hashing (recorded beside the fingerprints).
METHOD = f"sha256[:{DIGEST_BYTES}] of the NFKC, case-folded text with its white space collapsed"


def normalised(text: str) -> str:
    """The sentence as compared: Unicode-normalised, case-folded, white space collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def digest(text: str) -> bytes:
    return hashlib.sha256(normalised(text).encode("utf-8")).digest()[:DIGEST_BYTES]


def fingerprint(texts: Iterable[str]) -> str:
    """The distinct sentences' digests, sorted and base64-encoded in one string."""
    return base64.b64encode(b"".join(sorted({digest(text) for text in texts}))).decode("ascii")


def digests(fingerprinted: str) -> set[bytes]:
    raw = base64.b64decode(fingerprinted)
    return {raw[i : i + DIGEST_BYTES] for i in range(0, len(raw), DIGEST_BYTES)}


def seen_positions(texts: Sequence[str], fingerprinted: str) -> list[int]:
    """The positions of ``texts`` whose sentence is in the fingerprint."""
    known = digests(fingerprinted)
    return [i for i, text in enumerate(texts) if digest(text) in known]


def record(train_texts: Iterable[str], validation_texts: Iterable[str]) -> dict[str, str]:
    """What a model folder keeps: the fingerprints of the sentences it trained and validated on."""
    return {"method": METHOD, "train": fingerprint(train_texts), "validation": fingerprint(validation_texts)}


def overlap(texts: Sequence[str], seen: dict[str, str] | None) -> dict[str, int] | None:
    """How many of ``texts`` the model trained on, validated on (and not trained on), and neither; None when the
    folder keeps no fingerprints (written before sentscore 0.3) or they were made another way."""
    if not seen or seen.get("method") != METHOD:
        return None
    trained = set(seen_positions(texts, seen["train"]))
    validated = set(seen_positions(texts, seen["validation"])) - trained
    return {
        "sentences": len(texts),
        "trained_on": len(trained),
        "validated_on": len(validated),
        "held_out": len(texts) - len(trained) - len(validated),
    }
