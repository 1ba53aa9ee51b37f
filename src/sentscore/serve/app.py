"""The HTTP API and web page: FastAPI around one loaded :class:`Scorer` and a dynamic batcher."""

from __future__ import annotations

import logging
import re
import tempfile
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException
from swagger_ui_bundle import swagger_ui_path

from .. import __version__
from ..data import read_texts, write_table
from ..errors import SentscoreError
from ..scoring.scorer import Scorer
from .batcher import DynamicBatcher, Overloaded
from .settings import ServeSettings, batching_enabled

__all__ = ["ServeSettings", "batching_enabled", "create_app"]

logger = logging.getLogger(__name__)


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
    model_config = ConfigDict(strict=True)  # as the schema says: probs 0 or "yes" is refused, not read as a bool

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
    model_config = ConfigDict(strict=True)

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


def create_app(scorer: Scorer, settings: ServeSettings | None = None) -> FastAPI:
    """The app for one loaded model. Use it with any ASGI server, or through `sentscore serve`."""
    settings = settings or ServeSettings()
    batching = batching_enabled(settings, scorer.backend)
    batcher = DynamicBatcher(
        scorer.predict_proba,
        settings.max_batch_size,
        settings.max_wait_ms,
        batching,
        max_pending=settings.max_queue,
        timeout_s=settings.request_timeout_s,
    )
    model_info = {**_model_info(scorer), "batching": batching}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(
        docs_url=None,  # served below from local files: the default page loads Swagger UI from a CDN
        redoc_url=None,
        title="sentscore",
        version=__version__,
        lifespan=lifespan,
        description=f"Scores sentences on the scale {', '.join(scorer.scale.labels)}.",
        responses={code: {"model": ErrorResponse} for code in (400, 413, 422, 503)},
    )
    app.state.settings, app.state.batcher, app.state.scorer = settings, batcher, scorer
    _install_error_handlers(app, settings)
    _add_scoring_routes(app, scorer, batcher, settings)
    _add_info_routes(app, model_info)
    _add_page_routes(app)
    return app


def _add_scoring_routes(app: FastAPI, scorer: Scorer, batcher: DynamicBatcher, settings: ServeSettings) -> None:
    request_model = score_request_model(settings)  # the body's schema carries this server's limits
    _add_score_route(app, scorer, batcher, settings, request_model)
    _add_explain_route(app, scorer, batcher, settings, request_model)
    _add_file_route(app, scorer, batcher, settings)


def _add_score_route(
    app: FastAPI, scorer: Scorer, batcher: DynamicBatcher, settings: ServeSettings, request_model: Any
) -> None:
    async def score(request: ScoreRequest) -> dict[str, Any]:
        """Score sentences; results come back in the order sent."""
        _check_sentences(request.sentences, settings)
        if request.set is not None:
            scorer.require_score_sets()
        probs = await batcher.score(request.sentences)
        predictions = scorer.predictions_from_probs(probs, request.set)
        return {"results": [p.to_dict(with_probs=request.probs) for p in predictions]}

    score.__annotations__["request"] = request_model
    app.post("/v1/score", response_model=ScoreResponse, response_model_exclude_none=True)(score)


def _add_explain_route(
    app: FastAPI, scorer: Scorer, batcher: DynamicBatcher, settings: ServeSettings, request_model: Any
) -> None:
    async def explain(request: ExplainRequest) -> dict[str, Any]:
        """Score sentences and say which words pushed each score up or down: each is scored again without
        each of its words in turn (occlusion), so a sentence of n words costs n + 1 scorings."""
        from ..scoring.explain import occlusion_variants, weights_from

        _check_sentences(request.sentences, settings)
        variants, spans = occlusion_variants(request.sentences)
        if len(variants) > settings.max_sentences * EXPLAIN_COST:
            raise SentscoreError(
                f"Explaining these sentences means scoring {len(variants)} texts (each sentence once, and once "
                f"without each word); the limit is {settings.max_sentences * EXPLAIN_COST}",
                hint="Send fewer or shorter sentences per request.",
            )
        probs = await batcher.score(variants)
        explained = weights_from(probs, spans, scorer.weigh)
        predictions = scorer.predictions_from_probs(probs[: len(spans)])
        return {
            "results": [
                {**p.to_dict(), "words": [w.to_dict() for w in weights]}
                for p, weights in zip(predictions, explained, strict=True)
            ]
        }

    explain.__annotations__["request"] = create_model(
        "ExplainRequest", __base__=ExplainRequest, sentences=(list[str], request_model.model_fields["sentences"])
    )
    app.post("/v1/explain", response_model=ExplainResponse, response_model_exclude_none=True)(explain)


def _read_upload(source: Path, name: str, text_column: str) -> tuple[Any, list[str]]:
    """The upload's rows and texts; its problems name the upload as sent, never the server's temporary path."""
    try:
        return read_texts(source, text_column)
    except SentscoreError as error:
        hint = None if error.hint is None else error.hint.replace(str(source), name)
        raise SentscoreError(error.message.replace(str(source), name), hint) from None


def _add_file_route(app: FastAPI, scorer: Scorer, batcher: DynamicBatcher, settings: ServeSettings) -> None:
    @app.post(
        "/v1/score-file",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}, "description": "The file with scores added."}},
    )
    async def score_file(
        file: UploadFile = File(..., description="The file to score (not empty).", json_schema_extra={"minLength": 1}),
        text_column: str = Form("sentence"),
        probs: bool = Form(False),
        set_coverage: float | None = Form(None, alias="set", gt=0, lt=1, description=SET_DESCRIPTION),
        spreadsheet_safe: bool = Form(False, description="Start cells a spreadsheet would run as formulas with '."),
    ) -> Response:
        """Score an uploaded CSV, TSV, JSONL or text file; returns it as CSV with scores added."""
        suffix = Path(file.filename or "upload.csv").suffix.lower() or ".txt"
        content = await file.read()
        with tempfile.TemporaryDirectory() as tmp:
            source, target = Path(tmp) / f"upload{suffix}", Path(tmp) / "scored.csv"
            source.write_bytes(content)
            frame, texts = _read_upload(source, file.filename or "the upload", text_column)
            if len(texts) > settings.max_sentences * 50:
                raise SentscoreError(
                    f"The file has {len(texts)} rows; the limit is {settings.max_sentences * 50}",
                    hint="Split the file, or score it with `sentscore predict --input`.",
                )
            _check_sentences(texts, settings, check_count=False)
            if set_coverage is not None:
                scorer.require_score_sets()
            probabilities = await batcher.score(texts)
            scored = scorer.add_scores(frame, probabilities, probs, set_coverage)
            write_table(scored, target, safe_for_spreadsheets=spreadsheet_safe)
            body = target.read_bytes()
        name = Path(file.filename or "scored").stem + "-scored.csv"
        return Response(body, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _add_info_routes(app: FastAPI, model_info: dict[str, Any]) -> None:
    @app.get("/v1/model")
    async def model() -> dict[str, Any]:
        """Labels, base model, max_length, objective, backend, the training metrics and calibration."""
        return model_info

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}


def _add_page_routes(app: FastAPI) -> None:
    """The web page and the API docs, from files inside the package (no CDN)."""
    static = resources.files("sentscore.serve") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Any:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title="sentscore API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(str(static / "index.html"))


def _check_sentences(sentences: list[str], settings: ServeSettings, check_count: bool = True) -> None:
    if not sentences:
        raise SentscoreError("'sentences' is empty", hint="Send at least one sentence.")
    if check_count and len(sentences) > settings.max_sentences:
        raise SentscoreError(
            f"{len(sentences)} sentences in one request; the limit is {settings.max_sentences}",
            hint="Split the request.",
        )
    blank = [i for i, s in enumerate(sentences) if not re.search(VISIBLE, s)]
    if blank:
        raise SentscoreError(f"sentences {blank[:10]} are blank", hint="Remove blank sentences.")
    long = [i for i, s in enumerate(sentences) if len(s) > settings.max_chars]
    if long:
        raise SentscoreError(
            f"sentences {long[:10]} are longer than {settings.max_chars} characters",
            hint="Shorten them; the model reads only the first max_length tokens anyway.",
        )


def _model_info(scorer: Scorer) -> dict[str, Any]:
    metrics = scorer.folder.metrics()
    info = scorer.info
    return {
        "labels": [scorer.scale.parse(label) for label in scorer.scale.labels],
        "base_model": info.base_model,
        "max_length": info.max_length,
        "objective": info.objective,
        "backend": scorer.backend,
        "trained_at": info.trained_at,
        "train_samples": info.train_samples,
        "metrics": metrics.get("final", {}),
        "primary_metric": metrics.get("primary_metric"),
        "calibration": info.calibration,
        "score_sets": scorer.folder.conformal_scores() is not None,
    }


def _install_error_handlers(app: FastAPI, settings: ServeSettings) -> None:
    """Every failure is a JSON body with a 4xx status; nothing leaks a stack trace."""

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, error: Overloaded) -> JSONResponse:
        response = _error(503, str(error), hint="Retry after the number of seconds in Retry-After.")
        response.headers["Retry-After"] = str(error.retry_after_s)
        return response

    @app.exception_handler(SentscoreError)
    async def user_error(request: Request, error: SentscoreError) -> JSONResponse:
        return _error(422, error.message, hint=error.hint)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "body", "problem": e.get("msg", "")}
            for e in error.errors()
        ]
        if any(e.get("type") == "json_invalid" for e in error.errors()):
            return _error(400, "The request body is not valid JSON", problems)
        return _error(422, "The request does not match the schema (see /docs)", problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("Unexpected error on %s %s", request.method, request.url.path)
        return _error(500, "Internal error; the server logged the details")


class BodySizeLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with a 413: at once when the declared
    Content-Length is over it, else as soon as the streamed body passes it (nothing more is read)."""

    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self.too_large()(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # the app's handler for HTTP exceptions turns this into the JSON 413
                    raise StarletteHTTPException(413, self.message())
            return message

        await self.app(scope, limited_receive, send)

    def message(self) -> str:
        return f"Request body over {self.max_bytes} bytes"

    def too_large(self) -> JSONResponse:
        return _error(413, self.message())


def _error(status: int, message: str, detail: Any = None, hint: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if detail is not None:
        body["detail"] = detail
    if hint:
        body["hint"] = hint
    return JSONResponse(body, status_code=status)
