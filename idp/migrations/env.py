"""Alembic environment: runs on the engine the app hands over (idp/migrations/__init__.py)."""

from __future__ import annotations

from alembic import context

from idp.models import db

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=db.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
