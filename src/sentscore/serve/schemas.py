"""The API's requests and responses, as its OpenAPI schema publishes them: strict types, and the server's
limits declared where a schema can say them."""

from __future__ import annotations

from typing import Any

from fastapi import UploadFile
from pydantic import BaseModel, ConfigDict, Field, create_model

from .settings import ServeSettings

SET_DESCRIPTION = (
    "Also return each sentence's score set: the likeliest scores that together hold the true score with this "
    "probability (e.g. 0.9), calibrated on the model's validation sentences (conformal prediction)."
)


#: One character that is white space neither to Python nor to JSON Schema's (ECMA-262) regular expressions, whose
#: ``\s`` differ (Python's takes in \x1c-\x1f and \x85, ECMA's \ufeff): a sentence without one is blank, alike in
#: the published schema and in the server's own check.
VISIBLE = "[^\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]"

#: How many texts an explanation request may make the server score, per sentence a score request may hold.
EXPLAIN_COST = 4


class ScoreRequest(BaseModel):
    # as the schema says: probs 0 or "yes" is refused, not read as a bool, and a key it does not know ("prob")
    model_config = ConfigDict(strict=True, extra="forbid")

    sentences: list[str] = Field(..., description="Sentences to score, in order.", examples=[["Great food!"]])
    probs: bool = Field(False, description="Also return the probability of every score.")
    set: float | None = Field(None, gt=0, lt=1, description=SET_DESCRIPTION)


def score_request_model(settings: ServeSettings) -> type[ScoreRequest]:
    """ScoreRequest with the server's limits in its published schema (at least one sentence, at most
    ``max_sentences``, none blank, none over ``max_chars``), so that clients and fuzzers see them; the checks
    themselves stay in ``_check_sentences``, whose messages name the limit that was hit."""
    limits = {
        "minItems": 1,
        "maxItems": settings.max_sentences,
        "items": {"type": "string", "minLength": 1, "maxLength": settings.max_chars, "pattern": VISIBLE},
    }
    sentences = Field(
        ..., description="Sentences to score, in order.", examples=[["Great food!"]], json_schema_extra=limits
    )
    return create_model("ScoreRequest", __base__=ScoreRequest, sentences=(list[str], sentences))


class SentenceScore(BaseModel):
    score: int | float | str = Field(..., description="The most likely score.")
    confidence: float = Field(..., description="Probability of that score.")
    expected_score: float | None = Field(None, description="Σ k·p(k) (numeric scores only).")
    set: list[int | float | str] | None = Field(None, description="Lowest and highest score of the set, when asked.")
    set_levels: list[int | float | str] | None = Field(
        None, description="Every score in the set, when asked; it may have a gap (1 and 5) where the model is torn."
    )
    set_text: str | None = Field(None, description='The set as a person reads it: "2-4", "1 or 5".')
    probs: dict[str, float] | None = Field(None, description="Probability of every score, when asked.")


class ScoreResponse(BaseModel):
    results: list[SentenceScore]


class ExplainRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    sentences: list[str] = Field(..., description="Sentences to explain, in order.", examples=[["Great food!"]])


class WordWeightModel(BaseModel):
    word: str
    start: int = Field(..., description="The word's first character in the sentence.")
    end: int = Field(..., description="One past its last character.")
    weight: float = Field(
        ..., description="Expected score with the word minus without it (positive: it pushed the score up)."
    )


class SentenceExplanation(SentenceScore):
    words: list[WordWeightModel] = Field(..., description="Each word, in order, with its weight.")


class ExplainResponse(BaseModel):
    results: list[SentenceExplanation]


class ErrorResponse(BaseModel):
    error: str = Field(..., description="What was wrong with the request.")
    detail: Any = Field(None, description="Per-field problems, for schema errors.")
    hint: str | None = Field(None, description="How to fix it.")


class UploadOptions(BaseModel):
    """The form of a file upload: the file and how to score it; a field it does not know is refused."""

    model_config = ConfigDict(extra="forbid")

    file: UploadFile = Field(..., description="The file to score (not empty).", json_schema_extra={"minLength": 1})
    text_column: str = Field("sentence", description="The column holding the text (CSV, TSV, JSONL).")
    probs: bool = Field(False, description="Also add the probability of every score.")
    set: float | None = Field(None, gt=0, lt=1, description=SET_DESCRIPTION)
    spreadsheet_safe: bool = Field(False, description="Start cells a spreadsheet would run as formulas with '.")
