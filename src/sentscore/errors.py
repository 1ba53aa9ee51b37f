"""The one exception type a user of sentscore should ever see."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator


class SentscoreError(Exception):
    """A problem the user can fix: bad input, a missing file, an unknown model.

    ``message`` says what is wrong (naming the file, rows or field); ``hint`` says how to fix it.
    The CLI prints both and exits non-zero; the server turns it into a 4xx response.
    """

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\nHint: {self.hint}" if self.hint else self.message


#: Where the user is speaking to sentscore from: "python" (a library call), "cli" (a command, whose options are
#: flags and config keys) or "http" (a request, whose options are fields); hints name an option in its words.
_PLACE: contextvars.ContextVar[str] = contextvars.ContextVar("sentscore_place", default="python")


@contextlib.contextmanager
def speaking_from(place: str) -> Iterator[None]:
    """Within the block, hints name options as ``place`` ("cli", "http") names them."""
    token = _PLACE.set(place)
    try:
        yield
    finally:
        _PLACE.reset(token)


def option(name: str) -> str:
    """How the user names the option ``name`` (a Python argument, such as ``text_column``) where they are:
    ``text_column=`` in Python, ``--text-column`` (config key ``text_column``) on the command line, the field
    ``text_column`` over HTTP."""
    place = _PLACE.get()
    if place == "cli":
        return f"--{name.replace('_', '-')} (config key {name})"
    if place == "http":
        return f"the field {name}"
    return f"{name}="
