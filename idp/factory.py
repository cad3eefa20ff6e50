"""The application factory of the WORKSDRIVE identity provider (Flask + authlib).

``create_app`` follows Flask's factory pattern; each ``setup_*`` wires one concern.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from typing import cast

from flask import Flask
from flask import Request
from flask import Response
from flask.sessions import SecureCookieSession
from flask.sessions import SecureCookieSessionInterface
from flask.sessions import SessionMixin
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from idp import extensions
from idp.background import BackgroundJobs
from idp.config import PROJECT_ROOT
from idp.config import ConfigError
from idp.config import Settings
from idp.config import load_settings
from idp.csrf import signing_serializer
from idp.db_liveness import ping_when_suspect


class IdpFlask(Flask):
    """Flask, remembering which views and hooks are plain functions: Flask asks
    ``inspect.iscoroutinefunction`` of every hook and view on every request (~10 per
    request, a few per cent of a token grant's time in Flask, issue 13). At most
    :attr:`SYNC_CACHE` functions are remembered (the app has ~120 views and hooks), so that
    functions made per request (``after_this_request``) cannot grow it without bound."""

    SYNC_CACHE = 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync_of: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        sync = self._sync_of.get(func)
        if sync is None:
            sync = super().ensure_sync(func)
            if len(self._sync_of) < self.SYNC_CACHE:
                self._sync_of[func] = sync
        return sync


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session (the CSRF token's), cheaper on every request (issue 13):

    - its signing serializer is built once per secret key (idp/csrf.py), not for every
      session opened or saved; the same cookies, signature and format;
    - a request that brings no session cookie (every machine request: token, userinfo, the
      admin API) opens an empty session without a serializer, and without a ``Cookie``
      header at all the cookies are not even parsed;
    - a session neither read nor changed by the request is saved by returning at once (Flask
      reads seven cookie settings first to do nothing)."""

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        fallbacks = app.config["SECRET_KEY_FALLBACKS"] or ()
        return signing_serializer(
            [*fallbacks, app.secret_key],  # the current key last, as Flask
            self.salt,
            self.serializer,
            {"key_derivation": self.key_derivation, "digest_method": self.digest_method},
        )

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and (
            "HTTP_COOKIE" not in request.environ
            or not request.cookies.get(self.get_cookie_name(app))
        ):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        # Flask would add no Vary (not accessed), delete nothing (not modified) and set no
        # cookie (neither modified nor permanent: no refresh on each request).
        if (
            not session.modified
            and not session.accessed
            # dict.get: the session's own get would mark it accessed
            and not dict.get(cast("dict[str, Any]", session), "_permanent")
        ):
            return
        super().save_session(app, session, response)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers proceed during a write; the busy timeout queues parallel writers.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # Under WAL, NORMAL syncs at checkpoints only; the database stays consistent after a
    # crash (the last commits may be lost). Production runs PostgreSQL.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def setup_database(app: Flask, settings: Settings) -> None:
    from idp.models import db

    url = settings.effective_database_url
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    # No pool_pre_ping: PostgreSQL's pooled connections are tested only when suspect
    # (idp/db_liveness.py), not with a round trip on every checkout.
    options: dict[str, Any] = {}
    if url.startswith("postgresql") and settings.db_idle_in_transaction_timeout:
        milliseconds = settings.db_idle_in_transaction_timeout * 1000
        options["connect_args"] = {
            "options": f"-c idle_in_transaction_session_timeout={milliseconds}"
        }
    if url.startswith("sqlite"):
        options = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    if url.startswith("sqlite"):
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_pragmas)
    elif url.startswith("postgresql"):
        with app.app_context():
            ping_when_suspect(db.engine)


def setup_store(app: Flask, settings: Settings) -> None:
    if settings.redis_url:
        from idp.store.redis import RedisStore

        try:
            store = RedisStore(settings.redis_url)
        except ValueError as error:
            raise ConfigError(f"IDP_REDIS_URL: {error}") from None
        extensions.store.register(app, store)
    else:
        from idp.models import db
        from idp.store.sql import SqlStore

        with app.app_context():
            engine: Engine = db.engine
        extensions.store.register(app, SqlStore(engine))


def setup_services(app: Flask, settings: Settings) -> None:
    from idp.mail import Mailer
    from idp.mail.queue import send_due
    from idp.oidc.keys import KeyStore
    from idp.sms import build_sms_sender
    from idp.twofactor.secrets_box import SecretBox
    from idp.users.passwords import PasswordHashing

    extensions.passwords.register(
        app,
        PasswordHashing(
            settings.argon2_memory_kib,
            settings.argon2_time_cost,
            settings.argon2_parallelism,
            settings.hash_concurrency,
        ),
    )
    mailer = Mailer(settings.smtp_url, Path(settings.instance_dir) / "outbox", settings.mail_from)
    mailer.send_due = lambda only: send_due(only)
    extensions.mailer.register(app, mailer)
    # G3: invitation uploads, one job at a time (each row commits; two jobs of one contract
    # never race for an address).
    extensions.invite_jobs.register(
        app, BackgroundJobs("invite-jobs", logging.getLogger("idp.invite_jobs"), workers=1)
    )
    # Keys stay published while tokens they signed may still be presented.
    retention = max(settings.id_token_ttl, settings.access_token_ttl) + 3600
    keys = KeyStore(settings.keys_dir, retention)
    keys.check_permissions()  # a private key others may read stops start-up
    extensions.keys.register(app, keys)
    extensions.secretbox.register(
        app,
        SecretBox(settings.encryption_key)
        if settings.encryption_key
        else SecretBox.for_development(settings.secret_key or "development-only-secret-key"),
    )
    try:
        extensions.sms.register(app, build_sms_sender(settings.sms, Path(settings.instance_dir)))
    except ValueError as error:
        raise ConfigError(str(error)) from error


def setup_backchannel(app: Flask) -> None:
    from idp.backchannel.delivery import setup_backchannel as setup

    setup(app)


def setup_audit_chain(app: Flask) -> None:
    from idp.audit_chain.trigger import setup_audit_chain as setup

    setup(app)


def setup_brokers(app: Flask, settings: Settings) -> None:
    """Build every configured upstream now, so that a bad ``IDP_BROKER_*`` setting stops
    start-up naming the variable instead of failing at the first click; the login page's
    buttons come from the same registry."""
    from brokers.registry import UPSTREAMS
    from brokers.registry import build_brokers

    try:
        extensions.brokers.register(app, build_brokers(settings.brokers))
    except ValueError as error:
        raise ConfigError(str(error)) from error
    app.jinja_env.globals["upstreams"] = UPSTREAMS


def setup_views(app: Flask) -> None:
    from idp import account_menu
    from idp import dev
    from idp import footer
    from idp import health
    from idp import home
    from idp import metrics
    from idp import scim
    from idp.accounts import views as account_views
    from idp.admin import api as admin_api
    from idp.admin import console as admin_console
    from idp.links import views as link_views
    from idp.login import active_directory
    from idp.login import brokered
    from idp.login import second_factor
    from idp.login import views as login_views
    from idp.oidc.server import setup_oauth
    from idp.oidc.views import setup_oidc_views

    setup_oauth(app)
    setup_oidc_views(app)
    app.register_blueprint(login_views.bp)
    app.register_blueprint(second_factor.bp)
    app.register_blueprint(brokered.bp)
    app.register_blueprint(active_directory.bp)
    app.register_blueprint(account_views.bp)
    app.register_blueprint(account_menu.bp)
    app.register_blueprint(link_views.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(dev.bp)
    app.register_blueprint(home.bp)
    footer.setup_footer(app)
    app.register_blueprint(admin_api.bp)
    app.register_blueprint(admin_console.bp)
    app.register_blueprint(scim.bp)


def create_app(test_config: dict[str, Any] | None = None, *, views: bool = True) -> Flask:
    """Build the provider. ``test_config`` overrides ``IDP_*`` settings (tests pass a dict).

    :param views: register the pages and endpoints. The command line's domain commands need
        none of them (links are built from the issuer, mails from their templates), and
        importing every surface (SCIM's models alone take ~0.4 s) made a simple command slow.
    """
    from idp.admission import setup_admission
    from idp.i18n import setup_i18n
    from idp.logs import setup_logging
    from idp.logs import setup_request_observer
    from idp.web import setup_web

    settings = load_settings(test_config)
    Path(settings.instance_dir).mkdir(parents=True, exist_ok=True)
    app = IdpFlask(
        __name__,
        instance_path=settings.instance_dir,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    extensions.settings.register(app, settings)
    app.session_interface = CookieSessionInterface()
    app.config.update(
        SECRET_KEY=settings.secret_key or "development-only-secret-key",
        MAX_CONTENT_LENGTH=settings.max_content_length,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookies_secure,
        SESSION_COOKIE_NAME="idp_csrf",
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=False,
    )
    setup_admission(app, settings)
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )
    setup_logging(app)
    setup_request_observer(app)
    setup_database(app, settings)
    setup_store(app, settings)
    setup_services(app, settings)
    setup_backchannel(app)
    setup_audit_chain(app)
    setup_brokers(app, settings)
    setup_i18n(app)
    setup_web(app)
    if views:
        setup_views(app)
        setup_mail_queue(app, settings)
        setup_invite_job_sweep(app, settings)
    return app


def setup_invite_job_sweep(app: Flask, settings: Settings) -> None:
    """A serving node finishes the CSV invitation jobs (G3) that no node holds any more (their
    node stopped): a sweep every lease time, started at its first request."""
    from idp.background import Sweeper
    from idp.users.bulk_invite import resume_orphaned_jobs

    sweeper = Sweeper("invite-sweep", logging.getLogger("idp.invite_jobs"), resume_orphaned_jobs)
    extensions.invite_sweeper.register(app, sweeper)

    @app.before_request
    def _start_invite_sweep() -> None:
        sweeper.start(app, settings.invite_job_lease)


def setup_mail_queue(app: Flask, settings: Settings) -> None:
    """A serving node sends the mail queue (idp/mail/queue.py): a worker thread per process,
    started at its first request (after gunicorn's fork), sweeping what is due."""
    mailer = extensions.mailer.of(app)
    mailer.retry_interval = settings.mail_retry_interval

    @app.before_request
    def _start_mail_worker() -> None:
        mailer.start_worker(app)
