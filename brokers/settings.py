"""The ``IDP_BROKER_<NAME>_*`` settings of an upstream, declared once and checked at start-up.

Each broker class lists its settings in ``SETTINGS`` (a tuple of :class:`Setting`). The same
table parses the environment (:func:`parse_settings`), names the variable in every refusal and
renders the README's settings table (:func:`render_table`), so the documentation cannot drift
from what is read (STYLE §7: typed settings, read once; a bad one stops start-up).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


class Kind(StrEnum):
    """What a setting's value is; the value of each member is how the README names it."""

    TEXT = "text"
    SECRET = "secret"
    URL = "URL"
    BOOL = "true/false"
    SECONDS = "seconds"
    CHOICE = "one of"
    PATTERN = "pattern"
    WORDS = "space-separated"
    PARAMS = "a=1&b=2"


@dataclass(frozen=True)
class Setting:
    """One ``IDP_BROKER_<NAME>_<KEY>`` variable.

    :param key: lower-case, as the registry hands it over (``client_id``).
    :param kind: how the value is checked and what it becomes (:meth:`parse`).
    :param meaning: one line for the README.
    :param required: unset refuses start-up.
    :param condition: when it is required in combination with others (checked by the
        broker's ``from_config``); the README shows it instead of "no".
    :param default: the documented default (the broker's own constructor default).
    :param choices: for :attr:`Kind.CHOICE`, compared without regard to case.
    :param pattern: for :attr:`Kind.PATTERN`, the whole value must match.
    :param hint: what a :attr:`Kind.PATTERN` value looks like, for the refusal.
    :param maximum: for :attr:`Kind.SECONDS`, the largest accepted value.
    """

    key: str
    kind: Kind
    meaning: str
    required: bool = False
    condition: str = ""
    default: str = ""
    choices: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    hint: str = ""
    maximum: float | None = None

    def variable(self, env_prefix: str) -> str:
        """``IDP_BROKER_GOOGLE_CLIENT_ID`` for ``client_id`` and ``IDP_BROKER_GOOGLE_``."""
        return f"{env_prefix}{self.key.upper()}"

    def parse(self, raw: str, env_prefix: str) -> Any:
        """The typed value of ``raw`` (already stripped, not empty).

        :raises ValueError: naming the variable and what it must be.
        """
        name = self.variable(env_prefix)
        if self.kind is Kind.BOOL:
            lowered = raw.lower()
            if lowered in TRUE_WORDS or lowered in FALSE_WORDS:
                return lowered in TRUE_WORDS
            raise ValueError(f"{name} must be true or false, not {raw!r}")
        if self.kind is Kind.SECONDS:
            try:
                seconds = float(raw)
            except ValueError:
                seconds = math.nan
            upper = self.maximum if self.maximum is not None else math.inf
            if not (math.isfinite(seconds) and 0 < seconds <= upper):
                limit = f"in (0, {self.maximum:g}]" if self.maximum is not None else "above 0"
                raise ValueError(f"{name} must be a number of seconds {limit}, not {raw!r}")
            return seconds
        if self.kind is Kind.URL:
            parts = urlsplit(raw)
            if parts.scheme not in ("http", "https") or not parts.hostname or " " in raw:
                raise ValueError(f"{name} must be an http(s) URL, not {raw!r}")
            return raw
        if self.kind is Kind.CHOICE:
            for choice in self.choices:
                if raw.lower() == choice.lower():
                    return choice
            raise ValueError(f"{name} must be one of {', '.join(self.choices)}, not {raw!r}")
        if self.kind is Kind.PATTERN:
            assert self.pattern is not None, self.key
            if not self.pattern.fullmatch(raw):
                raise ValueError(f"{name} must be {self.hint}, not {raw!r}")
            return raw
        if self.kind is Kind.WORDS:
            return tuple(raw.split())
        if self.kind is Kind.PARAMS:
            pairs = [pair.partition("=") for pair in raw.split("&") if pair]
            if not pairs or any(not key for key, _, _ in pairs):
                raise ValueError(f"{name} must look like a=1&b=2, not {raw!r}")
            return {key: value for key, _, value in pairs}
        return raw


def parse_settings(
    table: Sequence[Setting], config: Mapping[str, str], env_prefix: str
) -> dict[str, Any]:
    """The typed values of the settings that are set (an empty value is unset).

    :param config: ``IDP_BROKER_<NAME>_*`` with the prefix stripped, keys lower-case.
    :param env_prefix: ``IDP_BROKER_<NAME>_``, for the messages.
    :raises ValueError: an unknown variable (a typo would otherwise be ignored), a required one
        unset, or a malformed value; the message names the variable.
    """
    by_key = {setting.key: setting for setting in table}
    unknown = sorted(key for key in config if key not in by_key)
    if unknown:
        known = ", ".join(setting.key.upper() for setting in table)
        raise ValueError(
            f"{env_prefix}{unknown[0].upper()} is not a setting of this upstream; known: {known}"
        )
    values: dict[str, Any] = {}
    for setting in table:
        raw = (config.get(setting.key) or "").strip()
        if raw:
            values[setting.key] = setting.parse(raw, env_prefix)
        elif setting.required:
            raise ValueError(f"{setting.variable(env_prefix)} is not set")
    return values


def replace_setting(table: Sequence[Setting], key: str, **changes: Any) -> tuple[Setting, ...]:
    """``table`` with the setting ``key`` changed (a subclass's own default or meaning)."""
    if key not in {setting.key for setting in table}:
        raise KeyError(key)
    return tuple(
        dataclasses.replace(setting, **changes) if setting.key == key else setting
        for setting in table
    )


TABLE_HEADER = (
    "| variable | required | default | value | meaning |",
    "|---|---|---|---|---|",
)


def render_table(env_prefix: str, table: Sequence[Setting]) -> list[str]:
    """Markdown rows ``| variable | required | default | value | meaning |`` for the README
    (header: :data:`TABLE_HEADER`)."""
    rows = []
    for setting in table:
        required = "yes" if setting.required else (setting.condition or "no")
        kind = str(setting.kind)
        if setting.kind is Kind.CHOICE:
            kind = ", ".join(f"`{choice}`" for choice in setting.choices)
        elif setting.kind is Kind.PATTERN:
            kind = setting.hint
        default = f"`{setting.default}`" if setting.default else ""
        rows.append(
            f"| `{setting.variable(env_prefix)}` | {required} | {default} | {kind} "
            f"| {setting.meaning} |"
        )
    return rows
