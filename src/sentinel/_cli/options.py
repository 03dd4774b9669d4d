"""Parameter types shared by the commands: points in time and enum members by name."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from typing import Any, TypeVar

import click

_E = TypeVar("_E", bound=IntEnum)
_AGO = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class Moment(click.ParamType):
    """A duration back from now (``30m``, ``24h``, ``7d``) or an ISO 8601 time (UTC if naive)."""

    name = "moment"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        ago = _AGO.fullmatch(text)
        if ago:
            return datetime.now(timezone.utc) - timedelta(**{_UNITS[ago[2]]: int(ago[1])})
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(
                f"{text!r} is neither a duration like 30m, 24h or 7d nor an ISO time "
                "like 2024-05-01T12:00:00Z",
                param,
                ctx,
            )
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


MOMENT = Moment()


def member_name(member: IntEnum) -> str:
    """How the CLI spells an enum member: ``DEEP_TEST`` as ``deep-test``."""
    return member.name.lower().replace("_", "-")


def enum_option(*decls: str, enum: type[_E], **kwargs: Any) -> Callable[[Any], Any]:
    """A ``click.option`` whose values are members of ``enum``, named as ``member_name`` does.

    ``UNSPECIFIED`` is not offered; with ``multiple=True`` the value is a tuple of members.
    """
    by_name = {member_name(member): member for member in enum if member.value}

    def to_members(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, tuple):
            return tuple(by_name[name.lower()] for name in value)
        return by_name[value.lower()]

    return click.option(
        *decls,
        type=click.Choice(list(by_name), case_sensitive=False),
        callback=to_members,
        **kwargs,
    )


def hoist_token(args: list[str]) -> list[str]:
    """``args`` with ``--token X`` (or ``--token=X``) moved to the front.

    The token is an option of the root command, so that every subcommand shares it;
    moved, it also works where people type it: after the subcommand. Arguments after
    ``--`` are left alone.
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if arg == "--token" and i + 1 < len(args):
            front += args[i : i + 2]
            i += 2
            continue
        (front if arg.startswith("--token=") else rest).append(arg)
        i += 1
    return front + rest
