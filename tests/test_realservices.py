"""Prove that the real test services in ``tests.realservices`` work.

These are smoke tests of the test infrastructure itself: if they fail, every
test that depends on PostgreSQL, Redis or mail would fail for unrelated
reasons, so they pinpoint the cause.
"""

from __future__ import annotations

import smtplib
import uuid
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formataddr
from typing import TYPE_CHECKING

import pytest
import redis
import sqlalchemy

if TYPE_CHECKING:
    # Type-only: importing the plugin module at runtime before pytest
    # registers it would bypass assertion rewriting (a warning, i.e. an
    # error under ``filterwarnings = error``).
    from tests.realservices import PostgresServer
    from tests.realservices import RedisServer
    from tests.realservices import SmtpSink

# Redundant once conftest.py declares it; keeps this file runnable alone.
pytest_plugins = ["tests.realservices"]

SUBJECT = "【WORKSDRIVE】アカウントロック"
LINK = "https://drive.example.jp/unlock?token=abc123&lang=ja"


def test_postgres_create_database_and_query(postgres_server: PostgresServer) -> None:
    """A fresh database is reachable through SQLAlchemy + psycopg 3."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)
    assert url == postgres_server.url(name)
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("CREATE TABLE users (id serial PRIMARY KEY, name text)"))
            conn.execute(
                sqlalchemy.text("INSERT INTO users (name) VALUES (:n)"),
                [{"n": "山田太郎"}, {"n": "alice"}],
            )
        with engine.connect() as conn:
            names = conn.execute(sqlalchemy.text("SELECT name FROM users ORDER BY id")).scalars()
            assert list(names) == ["山田太郎", "alice"]
            db = conn.execute(sqlalchemy.text("SELECT current_database()")).scalar_one()
            assert db == name
    finally:
        engine.dispose()
        postgres_server.drop_database(name)


def test_redis_set_get_incr(redis_server: RedisServer) -> None:
    """The Redis server answers SET/GET/INCR via the ``redis`` package."""
    client = redis.Redis.from_url(redis_server.url(1), decode_responses=True)
    try:
        assert client.set("greeting", "こんにちは")
        assert client.get("greeting") == "こんにちは"
        assert client.incr("counter") == 1
        assert client.incr("counter", 5) == 6
    finally:
        client.flushdb()
        client.close()


def _send_japanese_mail(sink: SmtpSink, to: str) -> None:
    """Send a UTF-8 / base64 mail with an encoded-word Japanese subject."""
    body = f"アカウントがロックされました。\n解除はこちら: {LINK}\nよろしくお願いします。\n"
    msg = MIMEText(body, "plain", "utf-8")
    msg["Subject"] = Header(SUBJECT, "utf-8").encode()  # =?utf-8?b?...?=
    msg["From"] = formataddr(("ワークスドライブ", "noreply@example.jp"))
    msg["To"] = to
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as smtp:
        smtp.sendmail("bounce@example.jp", [to], msg.as_bytes())


def test_smtp_sink_receives_japanese_mail(mailbox: SmtpSink) -> None:
    """Subject and body decode to Japanese text; the link is extracted."""
    _send_japanese_mail(mailbox, "User@Example.jp")

    msg = mailbox.wait_for(subject_contains="アカウントロック", to="user@example.jp")

    assert msg["Subject"] == SUBJECT
    assert "ワークスドライブ" in str(msg["From"])
    assert "ロックされました" in mailbox.text_of(msg)
    assert mailbox.links_in(msg) == [LINK]
    envelope = mailbox.envelope_of(msg)
    # The wire format really was encoded, so the decoding above was exercised.
    assert b"=?utf-8?b?" in envelope.raw.lower()
    assert b"content-transfer-encoding: base64" in envelope.raw.lower()
    assert envelope.mail_from == "bounce@example.jp"
    assert envelope.rcpt_tos == ("User@Example.jp",)
    assert mailbox.messages == [msg]


def test_mailbox_is_cleared_between_tests(mailbox: SmtpSink) -> None:
    """The previous test's mail is gone; a timeout lists what did arrive."""
    assert mailbox.messages == []
    _send_japanese_mail(mailbox, "other@example.jp")
    with pytest.raises(AssertionError, match="アカウントロック"):
        mailbox.wait_for(subject_contains="存在しない件名", timeout=0.3)
