"""The command line: one module per verb's flags and handler; :func:`main` dispatches."""

from .main import main

__all__ = ["main"]
