"""Typed settings: a dataclass whose fields are the keys of a config file and the flags of a command, built
from a mapping with every problem collected before raising once. ``TrainConfig`` and ``ServeSettings`` are
settings."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import types
import typing
from collections.abc import Collection
from dataclasses import fields
from pathlib import Path
from typing import Any, Self

from .errors import SentscoreError


class Settings:
    """Typed settings as a dataclass: built from a mapping (a config file, CLI flags) with every unknown key,
    mistyped value and out-of-range value collected before raising once, and exposed as one CLI flag per field
    (the field's ``help`` metadata documents both)."""

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config", flags: Collection[str] = ()) -> Self:
        """Build from a mapping, collecting every unknown key, mistyped value and bad value before raising once.
        ``flags`` are the keys whose values came from command-line flags: their problems name the flag and the
        command line, the others the key and ``source``."""
        known = {f.name for f in fields(cls)}
        problems = [
            f"'{key}' was removed in sentscore {version}: {why}; delete it from the config"
            for key, (version, why) in cls.removed_keys().items()
            if key in values
        ]
        unknown = [key for key in values if key not in known and key not in cls.removed_keys()]
        for key in unknown:
            close = difflib.get_close_matches(str(key), known, n=1)
            problems.append(f"unknown key '{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        kwargs = {}
        hints = typing.get_type_hints(cls)
        for key, value in values.items():
            if key in known:
                try:
                    kwargs[key] = _coerce(value, hints[key])
                except (TypeError, ValueError):
                    problems.append(f"'{key}' must be {_describe(hints[key])}, got {value!r}")
        # The well-typed values are range-checked too (a mistyped one keeps its default meanwhile), so one
        # message lists every fix.
        settings = cls(**kwargs)
        problems += settings.problems()
        if problems:
            hint = "Valid keys: " + ", ".join(sorted(known)) if unknown else _fix(problems)
            raise SentscoreError(placed(problems, source, flags), hint=hint)
        return settings

    @classmethod
    def removed_keys(cls) -> dict[str, tuple[str, str]]:
        """Keys that earlier releases took and this one refuses: key -> (the release that removed it, why)."""
        return {}

    def validate(self, source: str = "config") -> None:
        """Raise once, listing every value that types alone cannot rule out."""
        problems = self.problems()
        if problems:
            raise SentscoreError(f"{source}: " + "; ".join(problems), hint=_fix(problems))

    def problems(self) -> list[str]:
        """Every value out of its range, as messages naming the key."""
        return []

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def choices(cls) -> dict[str, tuple[str, ...]]:
        """Fields that take one of a few values: field -> the values (checked in ``problems``, listed in help)."""
        return {}

    @classmethod
    def named(cls, key: str) -> str:
        """How problems name a field: as a config key."""
        return f"'{key}'"

    def choice_problems(self) -> list[str]:
        """Every field set to a value that is none of its choices (None stands for a default chosen later)."""
        return [
            f"{self.named(key)} must be one of {', '.join(allowed)}, got '{getattr(self, key)}'"
            for key, allowed in self.choices().items()
            if getattr(self, key) is not None and getattr(self, key) not in allowed
        ]

    @classmethod
    def add_flags(cls, parser: argparse.ArgumentParser, title: str, given: Any = None, source: str = "") -> None:
        """One flag per field, documented by the field's own help and its default (said once: a default that
        is None is described by the help itself); a flag not given reads as None. ``given`` (settings read from
        ``source``, a config file) shows the file's value instead of the default for each key the file sets."""
        hints = typing.get_type_hints(cls)
        group = parser.add_argument_group(title)
        for f in fields(cls):
            flag = "--" + f.name.replace("_", "-")
            help_text = f.metadata.get("help", "") + _shown_value(f, given, source)
            if hints[f.name] in (bool, bool | None):
                group.add_argument(
                    flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text
                )
            else:
                choices = cls.choices().get(f.name)
                metavar = "{" + ",".join(choices) + "}" if choices else f.name.upper()
                group.add_argument(flag, dest=f.name, default=None, metavar=metavar, help=help_text)

    @classmethod
    def given_flags(cls, args: argparse.Namespace) -> dict[str, Any]:
        """The fields whose flags were given on the command line."""
        return {f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name, None) is not None}


def _fix(problems: list[str]) -> str:
    return "Fix that value." if len(problems) == 1 else f"Fix these {len(problems)} values; each is named here."


def placed(problems: list[str], source: str, flags: Collection[str]) -> str:
    """The problems under the place their values came from: ``source`` (a config file) naming keys ('lr'), the
    command line naming flags (--lr)."""
    from_file, from_flags = [], []
    for problem in problems:
        flagged = problem
        for key in flags:
            flagged = flagged.replace(f"'{key}'", "--" + key.replace("_", "-"))
        (from_flags if flagged != problem else from_file).append(flagged)
    parts = [f"{source}: " + "; ".join(from_file)] if from_file else []
    if from_flags:
        parts.append("command line: " + "; ".join(from_flags))
    return "; ".join(parts)


def _shown_value(f: dataclasses.Field, given: Any, source: str) -> str:
    """ " (default: X)", or " (in SOURCE: X)" when ``given`` sets the key; nothing for a default of None."""
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    if given is not None and f.name in given:
        return f" ({source}: {_as_flag_value(given[f.name])})"
    return "" if default is None else f" (default: {_as_flag_value(default)})"


def _as_flag_value(value: Any) -> str:
    """A value as a flag would take it: a list as comma-separated items, not Python's ['none']."""
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def _coerce(value: Any, hint: Any) -> Any:
    """Convert a value read from JSON/YAML/CLI to the field's type, strictly."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        return _coerce(value, next(a for a in args if a is not type(None)))
    if origin is list:
        if isinstance(value, str) and value.strip().startswith("["):  # a JSON list given as a flag
            value = json.loads(value)
        elif isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise TypeError
        return [str(v) for v in value]
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise TypeError
    if hint is int:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
        return int(value)
    if hint is float:
        if isinstance(value, bool):
            raise TypeError
        return float(value)
    if hint is str:
        if not isinstance(value, str | int | float):
            raise TypeError
        return str(value)
    return value


def _describe(hint: Any) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    name = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(base)
    return name or "a list of labels"


def read_mapping(path: Path) -> dict[str, Any]:
    """The mapping a JSON or YAML config file holds, or a message naming the file and what is wrong."""
    if not path.is_file():
        raise SentscoreError(f"Config file not found: {path}", hint="Check the path given to --config.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SentscoreError(
            f"{path} is not valid UTF-8 text (byte {exc.start} cannot be decoded)",
            hint="Save the config file as UTF-8.",
        ) from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except (json.JSONDecodeError, ValueError) as exc:  # yaml.YAMLError subclasses Exception only
        raise SentscoreError(f"{path} is not valid {path.suffix.lstrip('.').upper() or 'JSON'}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - yaml errors; keep the user-facing message short
        raise SentscoreError(f"{path} could not be parsed: {exc}") from None
    if not isinstance(data, dict):
        raise SentscoreError(f"{path} must hold a mapping of keys to values, like the recipe's config.json")
    return data
