"""The settings of ``sentscore serve``: where it listens, its limits and its batching. Every field is a flag."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..scoring.backends import LONG_TEXTS
from ..settings import Settings


@dataclass
class ServeSettings(Settings):
    """Limits and batching of the server (``create_app`` reads these) and its address (``serve`` reads those).
    Problems name the ``sentscore serve`` flags."""

    host: str = field(default="127.0.0.1", metadata={"help": "Interface to bind (127.0.0.1: this machine only)."})
    port: int = field(default=8000, metadata={"help": "Port to listen on."})
    max_batch_size: int = field(default=64, metadata={"help": "Sentences per forward pass."})
    max_wait_ms: float = field(default=5.0, metadata={"help": "How long a request waits for others to batch with."})
    # None picks by backend: on for PyTorch, whose per-call overhead batching amortises, and for OpenVINO, whose bf16
    # kernels score a batch several times as fast per sentence as one sentence; off for ONNX Runtime on CPU, which
    # scores one sentence as fast per sentence as a padded batch (BENCHMARKS.md, docs/decisions.md).
    batching: bool | None = field(
        default=None,
        metadata={
            "help": "Gather concurrent requests into one forward pass (default: on for the torch and openvino "
            "backends, off for onnx, which scores single sentences as fast on CPU)."
        },
    )
    max_sentences: int = field(default=256, metadata={"help": "Sentences per request."})
    max_chars: int = field(default=2000, metadata={"help": "Characters per sentence."})
    max_body_bytes: int = field(default=2_000_000, metadata={"help": "Bytes per request body (uploads too)."})
    max_queue: int = field(
        default=256,
        metadata={
            "help": "Requests that may wait or run at once; one more is answered 503 with Retry-After at once "
            "instead of queueing without bound."
        },
    )
    long_texts: str = field(
        default="windows",
        metadata={
            "help": "A sentence longer than the model's max_length tokens: 'windows' scores it from overlapping "
            "windows, 'truncate' from its start only."
        },
    )
    request_timeout_s: float = field(
        default=30.0, metadata={"help": "Seconds a request may wait for its scores before it is answered 503."}
    )

    @classmethod
    def named(cls, key: str) -> str:
        return "--" + key.replace("_", "-")

    @classmethod
    def choices(cls) -> dict[str, tuple[str, ...]]:
        return {"long_texts": LONG_TEXTS}

    def problems(self) -> list[str]:
        positive = (
            "max_batch_size",
            "max_sentences",
            "max_chars",
            "max_body_bytes",
            "max_queue",
            "request_timeout_s",
        )
        problems = [f"--{key.replace('_', '-')} must be positive" for key in positive if getattr(self, key) <= 0]
        if self.max_wait_ms < 0:
            problems.append("--max-wait-ms must not be negative")
        if not 0 <= self.port <= 65535:
            problems.append(f"--port must be between 0 and 65535, got {self.port}")
        return [*self.choice_problems(), *problems]


def batching_enabled(settings: ServeSettings, backend: str) -> bool:
    """Whether requests are batched together: the setting, or when unset, the faster choice for the backend."""
    return settings.batching if settings.batching is not None else backend in ("torch", "openvino")
