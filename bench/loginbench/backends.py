"""``--backends``: the database and ephemeral store a local server runs on. ``sqlite`` is the
default instance (SQLite in WAL mode, the SQL ephemeral store); ``postgres`` starts a private
PostgreSQL and redis-server on free ports (as the tests do, tests/realservices.py) and stops
them afterwards."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

BACKENDS = ("sqlite", "postgres")


@dataclass
class Backend:
    name: str
    database_url: str | None = None
    redis_url: str | None = None
    #: Processes whose CPU is the database's and the store's (postmaster, redis-server).
    service_pids: list[int] = field(default_factory=list)
    _servers: list[Any] = field(default_factory=list)

    @property
    def label(self) -> str:
        database = (self.database_url or "sqlite").split(":", 1)[0].split("+", 1)[0]
        store = "redis" if self.redis_url else "sql"
        return f"{database}+{store}-store"

    def stop(self) -> None:
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()


def start_postgres_redis() -> Backend:
    """A private PostgreSQL (durable: fsync and full-page writes on, ``synchronous_commit``
    off, the nearest to SQLite's WAL with ``synchronous=NORMAL``, where a commit does not
    wait for the disk either) with a database ``idp``, and a private redis-server."""
    import psycopg

    from tests.realservices import PostgresServer
    from tests.realservices import RedisServer

    backend = Backend("postgres")
    try:
        postgres = PostgresServer().start()
        backend._servers.append(postgres)
        with psycopg.connect(postgres.dsn(), autocommit=True) as connection:
            # tests/realservices.py starts it with fsync etc. off (throw-away test data).
            for setting in ("fsync = on", "full_page_writes = on", "synchronous_commit = off"):
                connection.execute(f"ALTER SYSTEM SET {setting}")
            connection.execute("SELECT pg_reload_conf()")
        database_url = postgres.create_database("idp")
        redis = RedisServer().start()
        backend._servers.append(redis)
        pid_file = Path(postgres.data_dir) / "postmaster.pid"
        backend.service_pids = [int(pid_file.read_text().split()[0])]
        if redis._proc is not None:
            backend.service_pids.append(redis._proc.pid)
        backend.database_url, backend.redis_url = database_url, redis.url()
    except BaseException:
        backend.stop()
        raise
    return backend
