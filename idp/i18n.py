"""Japanese first, English by ``ui_locales`` or the language switch (Flask-Babel).

Catalogs live in ``idp/translations``; the ``.mo`` files are compiled from the ``.po``
sources at startup when missing or stale, so a fresh clone needs no extra step."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations
from flask import Flask
from flask import g
from flask import has_request_context
from flask import request
from flask import url_for
from flask_babel import Babel
from flask_babel import get_translations
from flask_babel import lazy_gettext
from jinja2.runtime import Context
from jinja2.utils import pass_context
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response

from idp.cookies import set_cookie

SUPPORTED_LOCALES = ("ja", "en")
DEFAULT_LOCALE = "ja"
LANG_COOKIE = "lang"
AUTHORIZE_PATH = "/authorize"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"

__all__ = [
    "follow_account_locale",
    "gettext",
    "lazy_gettext",
    "pick_locale",
    "setup_i18n",
]


def translations() -> NullTranslations:
    """Flask-Babel's ``get_translations()``, looked up once per request (issue 13: each of a
    page's twenty messages walked ``g`` six times and rebuilt the locale's name to find the
    same catalog).

    Kept beside Flask-Babel's own per-request state (``g._flask_babel``) with the locale and
    domain objects it was found for: Flask-Babel fixes both at their first use in a request
    and replaces them only through ``refresh()`` or ``force_locale()``, which this sees (the
    objects change) and then asks again."""
    try:
        state = g._flask_babel
    except RuntimeError:  # no application: Flask-Babel's untranslated messages
        return get_translations()  # type: ignore[no-any-return]
    except AttributeError:  # the request's first message
        state = None
    if state is not None:
        held = getattr(state, "idp_translations", None)
        if (
            held is not None
            and held[0] is getattr(state, "babel_locale", None)
            and held[1] is getattr(state, "babel_domain", None)
        ):
            return held[2]  # type: ignore[no-any-return]
    found = get_translations()
    state = g._flask_babel
    state.idp_translations = (state.babel_locale, state.babel_domain, found)
    return found  # type: ignore[no-any-return]


def gettext(string: str, **variables: Any) -> str:
    """The message in the request's language (Flask-Babel's ``gettext``, same result)."""
    text: str = translations().ugettext(string)
    return text if not variables else text % variables


@pass_context
def _template_gettext(context: Context, string: str, **variables: Any) -> str:
    """``_()`` and ``gettext()`` in templates: what Jinja's i18n extension installs over
    Flask-Babel's (markup-safe when autoescaping, always a format string), without its two
    indirections (``_`` resolving ``gettext``, each a ``Context.call``)."""
    text: str = translations().ugettext(string)
    if context.eval_ctx.autoescape:
        text = Markup(text)
    return text % variables


@pass_context
def _template_ngettext(
    context: Context, singular: str, plural: str, num: int, **variables: Any
) -> str:
    """``ngettext()`` in templates, like :func:`_template_gettext`."""
    variables.setdefault("num", num)
    text: str = translations().ungettext(singular, plural, num)
    if context.eval_ctx.autoescape:
        text = Markup(text)
    return text % variables


def compile_catalogs(folder: Path = TRANSLATIONS) -> None:
    for po_path in folder.glob("*/LC_MESSAGES/*.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as handle:
            catalog = read_po(handle)
        # A private temp name: parallel processes (gunicorn workers, test workers) may
        # compile at once; the rename is atomic.
        tmp = mo_path.with_suffix(f".mo.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        with tmp.open("wb") as handle:
            write_mo(handle, catalog)
        tmp.replace(mo_path)


def select_locale() -> str:
    if not has_request_context():
        return DEFAULT_LOCALE
    chosen = g.get("locale")
    if chosen in SUPPORTED_LOCALES:
        return str(chosen)
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in SUPPORTED_LOCALES:
        return str(cookie)
    return DEFAULT_LOCALE


def pick_locale(tags: str | None) -> str | None:
    """The first supported language of a ``ui_locales`` value (OIDC Core §3.1.2.1: space-
    separated BCP 47 tags, in order of preference), or None."""
    for tag in (tags or "").split():
        primary = tag.split("-")[0].lower()
        if primary in SUPPORTED_LOCALES:
            return primary
    return None


def follow_account_locale(stored: str) -> str:
    """A page opened from a mailed link (or an upstream's answer to one): the browser's
    remembered choice (the switch, ``ui_locales``: the ``lang`` cookie) when there is one,
    else the account's stored language. Returns the page's language."""
    if g.get("locale") not in SUPPORTED_LOCALES and request.cookies.get(LANG_COOKIE) is None:
        g.locale = stored if stored in SUPPORTED_LOCALES else DEFAULT_LOCALE
    return select_locale()


def merge_lang(args: dict[str, str], locale: str) -> str:
    """The current query string with ``lang`` replaced (the language switch links)."""
    return urlencode({**{k: v for k, v in args.items() if k != "lang"}, "lang": locale})


def language_switch_url(locale: str) -> str:
    """The language switch's link for this page: the matched route (``url_for`` with its
    endpoint and view arguments) with ``lang`` replaced in the query.

    Never the raw request path: ``/%5Cevil.example/x`` would become ``/\\evil.example/x``,
    which browsers read as ``//evil.example/x``, another site. Without a matched route (404,
    405) the link is the bare query ``?lang=…``, which stays on the page's own path."""
    fallback = "?" + urlencode({"lang": locale})
    if request.url_rule is None or request.endpoint is None:
        return fallback
    try:
        path = url_for(request.endpoint, **(request.view_args or {}))
    except BuildError:
        return fallback
    if not path.startswith("/") or path.startswith(("//", "/\\")):
        return fallback
    args = request.args.to_dict()
    if request.method == "POST" and "tx" not in args and _posted_tx():
        # A page shown again after its form was sent (a wrong password): the sign-in's step is
        # named by the form's ``tx``, which the switch must keep or the sign-in is lost.
        args["tx"] = request.form["tx"]
    return f"{path}?{merge_lang(args, locale)}"


def _posted_tx() -> str | None:
    """The form's ``tx``; None when the body is not to be read (the page that says it was
    too large must not read it again)."""
    try:
        return _lookup(request.form, "tx")
    except RequestEntityTooLarge:
        return None


def _lookup(values: MultiDict[str, str], key: str) -> str | None:
    """``values.get(key)`` without its cost for a missing key: werkzeug's ``get`` builds,
    raises and catches a ``BadRequestKeyError`` (an HTTP exception) for it (issue 13)."""
    return values[key] if key in values else None


def _authorize_param(name: str) -> str | None:
    """A parameter of the authorization request, by GET or POST (OIDC Core §3.1.2.1)."""
    try:
        return request.values.get(name)
    except RequestEntityTooLarge:
        return None


def setup_i18n(app: Flask) -> None:
    compile_catalogs()
    Babel(app, locale_selector=select_locale, default_translation_directories=str(TRANSLATIONS))
    app.jinja_env.globals.update(
        _=_template_gettext, gettext=_template_gettext, ngettext=_template_ngettext
    )
    app.jinja_env.globals["current_locale"] = select_locale
    app.jinja_env.globals["language_switch_url"] = language_switch_url

    @app.before_request
    def language_switch() -> None:
        # No query string, no arguments to parse (every machine request, issue 13).
        chosen = _lookup(request.args, "lang") if request.environ.get("QUERY_STRING") else None
        if chosen not in SUPPORTED_LOCALES and request.path == AUTHORIZE_PATH:
            # A relying party's ``ui_locales`` is the person's choice at the service: kept
            # like the switch, so that the pages beyond the sign-in (forgot password, the
            # mailed link) stay in it.
            chosen = pick_locale(_authorize_param("ui_locales"))
        if chosen in SUPPORTED_LOCALES:
            g.locale = chosen
            g.switched_locale = chosen

    @app.after_request
    def remember_language(response: Response) -> Response:
        chosen = g.get("switched_locale")
        if chosen:
            set_cookie(response, LANG_COOKIE, chosen, max_age=365 * 86400)
        return response
