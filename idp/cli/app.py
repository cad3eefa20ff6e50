"""``@with_app``: the one place where a command gets its app and where errors become a
clean message and exit code (STYLE.md §8: no copied ``except`` blocks)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import ParamSpec
from typing import TypeVar

import click

if TYPE_CHECKING:
    from flask import Flask

P = ParamSpec("P")
R = TypeVar("R")


def make_app(*, views: bool = True) -> Flask:
    """The app from the environment; a configuration error is a clean message.

    :param views: False for a command that only calls the domain (no pages to serve)."""
    from idp.config import ConfigError
    from idp.factory import create_app

    try:
        return create_app(views=views)
    except ConfigError as error:
        raise click.ClickException(str(error)) from error


def with_app(command: Callable[P, R]) -> Callable[P, R]:
    """Run the command inside an app context; a ``DomainError`` (already audited by the
    domain function) becomes ``Error: <message>`` on stderr and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from idp import extensions
        from idp.errors import DomainError

        app = make_app(views=False)
        with app.app_context():
            try:
                return command(*args, **kwargs)
            except DomainError as error:
                raise click.ClickException(str(error)) from error
            finally:
                # A mail the command queued is sent before the process ends (or stays
                # queued for the nodes' workers when the SMTP server is down).
                extensions.mailer.of(app).wait_idle()

    return wrapper
