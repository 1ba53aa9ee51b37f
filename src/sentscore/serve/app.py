"""The HTTP API and web page: FastAPI around one loaded :class:`Scorer` and a dynamic batcher."""

from __future__ import annotations

import logging
import re
import tempfile
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import create_model
from starlette.exceptions import HTTPException as StarletteHTTPException
from swagger_ui_bundle import swagger_ui_path

from .. import __version__
from ..data import read_texts, write_table
from ..data.inputs import NOT_UTF8_HINT, not_text_at
from ..errors import SentscoreError, speaking_from
from ..scoring.scorer import Scorer
from .batcher import DynamicBatcher, Overloaded
from .schemas import (
    EXPLAIN_COST,
    VISIBLE,
    ErrorResponse,
    ExplainRequest,
    ExplainResponse,
    ScoreRequest,
    ScoreResponse,
    UploadOptions,
    score_request_model,
)
from .settings import ServeSettings, batching_enabled

__all__ = ["ServeSettings", "batching_enabled", "create_app"]

logger = logging.getLogger(__name__)


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
        with speaking_from("http"):
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
    async def score_file(options: Annotated[UploadOptions, Form(media_type="multipart/form-data")]) -> Response:
        """Score an uploaded CSV, TSV, JSONL or text file; returns it as CSV with scores added."""
        file, text_column, set_coverage = options.file, options.text_column, options.set
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
            scored = scorer.add_scores(frame, probabilities, options.probs, set_coverage)
            write_table(scored, target, safe_for_spreadsheets=options.spreadsheet_safe)
            body = target.read_bytes()
        name = Path(file.filename or "scored").stem + "-scored.csv"
        return Response(body, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _add_info_routes(app: FastAPI, model_info: dict[str, Any]) -> None:
    @app.get("/v1/model")
    async def model() -> dict[str, Any]:
        """Labels, base model, max_length, objective, backend and device, the training metrics and calibration."""
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
        named, verb = _positions(blank)
        raise SentscoreError(f"{named} {verb} blank (counted from 0)", hint="Remove blank sentences.")
    # Checked here, per request: in a batch of several requests' sentences one would fail its neighbours too.
    undecodable = {i: at for i, s in enumerate(sentences) if (at := not_text_at(s)) is not None}
    if undecodable:
        (first, at), (named, verb) = next(iter(undecodable.items())), _positions(list(undecodable))
        raise SentscoreError(
            f"{named} (counted from 0) {verb} not valid text: {sentences[first][at]!r} is half of a UTF-16 "
            "surrogate pair",
            hint=NOT_UTF8_HINT,
        )
    long = [i for i, s in enumerate(sentences) if len(s) > settings.max_chars]
    if long:
        raise SentscoreError(
            f"sentences {long[:10]} are longer than {settings.max_chars} characters",
            hint="Shorten them; the model reads only the first max_length tokens anyway.",
        )


def _positions(indices: list[int]) -> tuple[str, str]:
    """``sentence [3]`` and "is", or ``sentences [1, 4]`` (ten at most, and how many more) and "are"."""
    if len(indices) == 1:
        return f"sentence [{indices[0]}]", "is"
    more = f" and {len(indices) - 10} more" if len(indices) > 10 else ""
    return f"sentences {indices[:10]}{more}", "are"


def _model_info(scorer: Scorer) -> dict[str, Any]:
    metrics = scorer.folder.metrics()
    info = scorer.info
    return {
        "labels": [scorer.scale.parse(label) for label in scorer.scale.labels],
        "base_model": info.base_model,
        "max_length": info.max_length,
        "objective": info.objective,
        "backend": scorer.backend,
        "scored_with": scorer.scored_with,
        "device": scorer.device,
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
