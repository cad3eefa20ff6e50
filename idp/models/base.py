"""The declarative base, the Flask-SQLAlchemy handle and the helpers every model uses."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import TypeVar

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.engine import CursorResult
from sqlalchemy.engine import Result
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm.instrumentation import manager_of_class


class Base(DeclarativeBase):
    pass


# Objects stay usable after a commit without a reload (one request = one short unit of
# work; state that other requests change is re-read by primary key where it matters).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


def utcnow() -> datetime:
    return datetime.now(UTC)


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE run through ``db.session.execute`` matched (typed as a
    ``Result``; for such a statement it is a ``CursorResult``)."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"not the result of an UPDATE or DELETE: {result!r}")
    return result.rowcount


def new_id() -> str:
    return uuid.uuid4().hex


_Model = TypeVar("_Model")


def transient(cls: type[_Model], values: Mapping[Any, Any]) -> _Model:
    """A transient ``cls`` holding ``values``, built as the ORM's loading builds an instance
    (its state, then its ``__dict__``) rather than by its constructor, which sets each
    attribute through the instrumentation: ~13 µs instead of ~145 µs for a ``User``
    (issue 13). Never to be added to a session: nothing in it is marked changed."""
    instance: _Model = manager_of_class(cls).new_instance()
    instance.__dict__.update(values)
    return instance
