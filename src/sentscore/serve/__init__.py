"""``sentscore serve``: an HTTP API and a web page for a trained model."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def serve(
    model_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    backend: str = "auto",
    settings=None,
    log_level: str = "info",
) -> None:
    """Load ``model_dir`` once and serve it with uvicorn until SIGINT/SIGTERM (clean shutdown)."""
    import uvicorn

    from ..predict import Scorer
    from .app import ServeSettings, batching_enabled, create_app

    settings = settings or ServeSettings()
    scorer = Scorer.load(model_dir, backend=backend, batch_size=settings.max_batch_size)
    app = create_app(scorer, settings)
    logger.info(
        "Serving %s (%s backend, dynamic batching %s) on http://%s:%d  (API docs: /docs)",
        model_dir,
        scorer.backend,
        "on" if batching_enabled(settings, scorer.backend) else "off",
        host,
        port,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=True)
