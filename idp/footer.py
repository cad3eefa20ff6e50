"""The footer of every page (issue 14): help, terms of use, privacy policy and who runs the
service, from ``IDP_HELP_URL``, ``IDP_TERMS_URL``, ``IDP_PRIVACY_URL``, ``IDP_OPERATOR_NAME``
and ``IDP_OPERATOR_URL``.

Help is always there: without ``IDP_HELP_URL`` it is our own short page ``/help`` (how to sign
in, what to do when stuck, whom to ask), which is true for every deployment. The terms and the
privacy policy are the operator's own text: unset, their links are left out rather than
pointing at a page that would only say that the operator's text belongs there.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint
from flask import Flask
from flask import render_template
from flask import url_for

from idp import extensions
from idp.i18n import gettext
from idp.i18n import select_locale
from idp.i18n import translations
from idp.pages import PageMemo
from idp.pages import is_relative
from idp.pages import setup_pages

#: The © line's name when ``IDP_OPERATOR_NAME`` is unset.
PRODUCT_NAME = "WORKSDRIVE"

bp = Blueprint("footer", __name__)


@dataclass(frozen=True)
class FooterLink:
    """One footer link: its element id (tests and styles), text and address."""

    id: str
    text: str
    url: str


def footer_links() -> list[FooterLink]:
    """The footer's links in the page's language, those that are configured (help always).

    Our own help page keeps the page's language in its link (``lang``), so that a person who
    chose English at the service's sign-in reads the help in English too."""
    settings = extensions.settings()
    help_url = settings.help_url or url_for("footer.help_page", lang=select_locale())
    links = [FooterLink("footer-help", gettext("Help"), help_url)]
    if settings.terms_url:
        links.append(FooterLink("footer-terms", gettext("Terms of use"), settings.terms_url))
    if settings.privacy_url:
        links.append(FooterLink("footer-privacy", gettext("Privacy policy"), settings.privacy_url))
    if settings.operator_url:
        links.append(FooterLink("footer-operator", operator_name(), settings.operator_url))
    return links


def operator_name() -> str:
    """Who runs the service (``IDP_OPERATOR_NAME``), for the © line."""
    return extensions.settings().operator_name or PRODUCT_NAME


@bp.get("/help")
def help_page() -> str:
    return render_template("help.html")


def setup_footer(app: Flask) -> None:
    """Register ``/help`` and give every template the footer's links and the © name, with
    the rest of the page shell's globals (idp/pages.py: ``static_url``).

    The links are built once per language (issue 13): they depend only on the settings, the
    page's language and its catalog."""
    app.register_blueprint(bp)
    setup_pages(app)
    memo: PageMemo[tuple[FooterLink, ...]] = PageMemo()

    def build() -> tuple[tuple[FooterLink, ...], bool]:
        links = tuple(footer_links())
        # Kept unless our help page's link came out absolute (a request for another host
        # part than the app's own; a relative link depends only on the memo's key).
        return links, bool(extensions.settings().help_url) or is_relative(links[0].url)

    def kept_footer_links() -> tuple[FooterLink, ...]:
        return memo.get((select_locale(), translations()), build)

    app.jinja_env.globals["footer_links"] = kept_footer_links
    app.jinja_env.globals["operator_name"] = operator_name
