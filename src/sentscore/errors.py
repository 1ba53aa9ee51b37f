"""The one exception type a user of sentscore should ever see."""

from __future__ import annotations


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
