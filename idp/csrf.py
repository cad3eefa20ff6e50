"""CSRF protection (Flask-WTF's) and the cookie session's signing, with their signers built
once per secret key instead of on every request (issue 13).

Flask-WTF builds an ``URLSafeTimedSerializer`` for every token it makes or checks, and Flask
one for every session it opens or saves; each construction serializes a probe value, and each
signature derives its key again (an HMAC or a hash of the secret key). The secret key is fixed
for the app's life, so :class:`SigningSerializer` keeps one signer per salt, which derives its
key once and computes its HMAC in one C call (:class:`OneCallHmac`). The tokens and cookies
are byte for byte the same (same salts, key derivations, digests and formats): tokens made
before still validate, cookies set before still load.

:class:`CsrfProtect` is Flask-WTF's ``CSRFProtect`` with those signers, the same checks in
the same order for a form method (token missing, no session token, expired, invalid, not
matching; the referrer under ``WTF_CSRF_SSL_STRICT``), and a request of another method
(GET, HEAD, OPTIONS) passing before the exemption lookup rather than after it."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Iterable
from typing import Any

from flask import Flask
from flask import current_app
from flask import g
from flask import request
from flask.globals import app_ctx
from flask.globals import request_ctx
from flask_wtf.csrf import CSRFProtect
from flask_wtf.csrf import ValidationError
from flask_wtf.csrf import csrf_meta_tag
from flask_wtf.csrf import same_origin
from itsdangerous import BadData
from itsdangerous import SignatureExpired
from itsdangerous import TimestampSigner
from itsdangerous import URLSafeTimedSerializer
from itsdangerous.signer import HMACAlgorithm
from itsdangerous.signer import Signer

#: Flask-WTF's salt of its tokens.
CSRF_SALT = "wtf-csrf-token"
#: Flask-WTF's logger, which logs the reason of each refusal.
log = logging.getLogger("flask_wtf.csrf")


class OneCallHmac(HMACAlgorithm):
    """itsdangerous's HMAC signature by ``hmac.digest`` (the same bytes)."""

    def __init__(self, digest_name: str) -> None:
        self.digest_name = digest_name

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.digest(key, value, self.digest_name)


class KeyCachingSigner(TimestampSigner):
    """itsdangerous's timestamp signer deriving each secret key's signing key once (its
    keys, salt and derivation are fixed at construction): ``derive_key`` ran on every
    signature and every check."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._derived: dict[str | bytes | None, bytes] = {}
        if type(self.algorithm) is HMACAlgorithm:
            # The same HMAC in one C call: ``hmac.new`` with a digest given as a Python
            # function (Flask's lazy sha1) runs the pure-Python HMAC.
            self.algorithm = OneCallHmac(self.algorithm.digest_method().name)

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        key = self._derived.get(secret_key)
        if key is None:
            key = super().derive_key(secret_key)
            # At most one entry per secret key (and None, the newest): bounded.
            self._derived[secret_key] = key
        return key


class SigningSerializer(URLSafeTimedSerializer):
    """``URLSafeTimedSerializer`` keeping its signer per salt (one, in practice) instead of
    building one per ``dumps``/``loads``; the same signed values."""

    default_signer = KeyCachingSigner

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signers: dict[str | bytes | None, Signer] = {}

    def make_signer(self, salt: str | bytes | None = None) -> Signer:
        signer = self._signers.get(salt)
        if signer is None:
            signer = super().make_signer(salt)
            if len(self._signers) < 8:
                self._signers[salt] = signer
        return signer


#: Serializers by their construction: (secret keys, salt, signer derivation) → serializer.
_serializers: dict[tuple[Any, ...], SigningSerializer] = {}


def signing_serializer(
    secret_keys: Iterable[str | bytes],
    salt: str,
    serializer: Any = None,
    signer_kwargs: dict[str, Any] | None = None,
) -> SigningSerializer:
    """The serializer for these keys and salt, built at its first use. A handful exist per
    process (the session's and the CSRF tokens', per secret key: one app, or the tests')."""
    keys = tuple(secret_keys)
    kwargs = signer_kwargs or {}
    cache_key = (keys, salt, id(serializer), tuple(sorted(kwargs.items())))
    found = _serializers.get(cache_key)
    if found is None:
        found = SigningSerializer(
            list(keys), salt=salt, serializer=serializer, signer_kwargs=signer_kwargs
        )
        if len(_serializers) < 64:
            _serializers[cache_key] = found
    return found


def _csrf_serializer(app: Flask) -> SigningSerializer:
    secret_key = app.config.get("WTF_CSRF_SECRET_KEY", app.secret_key)
    if secret_key is None:
        raise RuntimeError("A secret key is required to use CSRF.")
    return signing_serializer((secret_key,), CSRF_SALT)


def _field_name(app: Flask) -> str:
    name: str | None = app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    if name is None:
        raise RuntimeError("A field name is required to use CSRF.")
    return name


def generate_csrf() -> str:
    """Flask-WTF's ``generate_csrf``: the request's signed token (made once per request,
    kept in ``g``), from the raw token in the session (made at the session's first form).
    The contexts are looked up once (each ``current_app``, ``g``, ``session`` is one)."""
    app_context = app_ctx._get_current_object()  # type: ignore[attr-defined]
    app, g = app_context.app, app_context.g
    field_name = _field_name(app)
    token: str | None = g.get(field_name)
    if token is None:
        serializer = _csrf_serializer(app)
        session = request_ctx.session
        if field_name not in session:
            session[field_name] = hashlib.sha1(os.urandom(64)).hexdigest()
        try:
            token = serializer.dumps(session[field_name])
        except TypeError:
            session[field_name] = hashlib.sha1(os.urandom(64)).hexdigest()
            token = serializer.dumps(session[field_name])
        setattr(g, field_name, token)
    return token


def validate_csrf(data: str | None) -> None:
    """Flask-WTF's ``validate_csrf`` with the app's settings.

    :raises ValidationError: with Flask-WTF's reason."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    field_name = _field_name(app)
    time_limit = app.config.get("WTF_CSRF_TIME_LIMIT", 3600)
    if not data:
        raise ValidationError("The CSRF token is missing.")
    session = request_ctx.session
    if field_name not in session:
        raise ValidationError("The CSRF session token is missing.")
    try:
        token = _csrf_serializer(app).loads(data, max_age=time_limit)
    except SignatureExpired as e:
        raise ValidationError("The CSRF token has expired.") from e
    except BadData as e:
        raise ValidationError("The CSRF token is invalid.") from e
    if not hmac.compare_digest(session[field_name], token):
        raise ValidationError("The CSRF tokens do not match.")


class CsrfProtect(CSRFProtect):  # type: ignore[misc]  # Flask-WTF is untyped
    """Flask-WTF's ``CSRFProtect`` with the signers above (see the module's docstring)."""

    def init_app(self, app: Flask) -> None:
        # Flask-WTF also registers itself as ``app.extensions["csrf"]``, which nothing reads.
        app.config.setdefault("WTF_CSRF_ENABLED", True)
        app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", True)
        app.config["WTF_CSRF_METHODS"] = set(
            app.config.get("WTF_CSRF_METHODS", ["POST", "PUT", "PATCH", "DELETE"])
        )
        app.config.setdefault("WTF_CSRF_FIELD_NAME", "csrf_token")
        app.config.setdefault("WTF_CSRF_HEADERS", ["X-CSRFToken", "X-CSRF-Token"])
        app.config.setdefault("WTF_CSRF_META_NAME", "csrf-token")
        app.config.setdefault("WTF_CSRF_TIME_LIMIT", 3600)
        app.config.setdefault("WTF_CSRF_SSL_STRICT", True)
        # Globals only: Flask-WTF also adds them by a context processor, run on every
        # render to put the same two functions in the context.
        app.jinja_env.globals["csrf_token"] = generate_csrf
        app.jinja_env.globals["csrf_meta_tag"] = csrf_meta_tag
        config = app.config

        @app.before_request
        def csrf_protect() -> None:
            if (
                request.method in config["WTF_CSRF_METHODS"]
                and config["WTF_CSRF_ENABLED"]
                and config["WTF_CSRF_CHECK_DEFAULT"]
            ):
                self.protect(apply_exemptions=True)

    def protect(self, apply_exemptions: bool = False) -> None:
        """Flask-WTF's ``protect``: the method first, then the exemptions."""
        if request.method not in current_app.config["WTF_CSRF_METHODS"]:
            return
        if apply_exemptions and (not request.endpoint or self._is_exempt()):
            return
        try:
            validate_csrf(self._get_csrf_token())
        except ValidationError as e:
            log.info(e.args[0])
            self._error_response(e.args[0])
        if request.is_secure and current_app.config["WTF_CSRF_SSL_STRICT"]:
            if not request.referrer:
                self._error_response("The referrer header is missing.")
            good_referrer = f"https://{request.host}/"
            if not same_origin(request.referrer, good_referrer):
                self._error_response("The referrer does not match the host.")
        g.csrf_valid = True
