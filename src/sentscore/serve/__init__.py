"""``sentscore serve``: an HTTP API and a web page for a trained model."""

from __future__ import annotations

import errno
import logging
import socket
from pathlib import Path

from ..errors import SentscoreError
from .settings import ServeSettings, batching_enabled

logger = logging.getLogger(__name__)


def serve(
    model_dir: str | Path,
    settings: ServeSettings | None = None,
    backend: str = "auto",
    log_level: str = "info",
    device: str = "cpu",
    onnx_file: str | None = None,
) -> None:
    """Load ``model_dir`` once and serve it with uvicorn on ``settings.host:port`` until SIGINT/SIGTERM; ``device``
    and ``onnx_file`` as :meth:`Scorer.load` takes them."""
    import uvicorn

    from ..scoring.scorer import Scorer
    from .app import create_app

    settings = settings or ServeSettings()
    settings.validate("sentscore serve")
    host, port = settings.host, settings.port
    check_can_listen(host, port)  # before the model loads, and instead of uvicorn's bare log line
    scorer = Scorer.load(
        model_dir,
        backend=backend,
        batch_size=settings.max_batch_size,
        long_texts=settings.long_texts,
        device=device,
        onnx_file=onnx_file,
    )
    app = create_app(scorer, settings)
    logger.info(
        "Serving %s (%s on %s, dynamic batching %s) on http://%s:%d  (API docs: /docs)",
        model_dir,
        scorer.scored_with,
        scorer.device,
        "on" if batching_enabled(settings, scorer.backend) else "off",
        host,
        port,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=True)


def check_can_listen(host: str, port: int) -> None:
    """Raise a :class:`SentscoreError` naming the address when the server could not bind to it (the port is
    taken, the host is not this machine's, the name does not resolve)."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(address)
    except OSError as error:
        if isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL:
            hint = "Check --host: 127.0.0.1 serves this machine only, 0.0.0.0 every network interface."
        else:
            hint = "Another program may be using the port: pick a free one with --port."
        raise SentscoreError(f"cannot listen on {host}:{port}: {error.strerror or error}", hint=hint) from None
