"""SPEC Links, X4: the links surface dispatches every stored link to its purpose's handler."""

from __future__ import annotations

import ast
import secrets
from datetime import timedelta

import pytest

from idp.config import PROJECT_ROOT
from idp.links.registry import HANDLERS
from idp.models import MailLink
from idp.models import User
from idp.models import utcnow
from idp.users.links import hash_token
from policies.links import LinkPurpose
from tests.helpers import Browser
from tests.helpers import forms_in


def test_every_link_purpose_has_one_handler_and_its_pages():
    assert set(HANDLERS) == set(LinkPurpose)
    for purpose, handler in HANDLERS.items():
        assert handler.purpose == purpose
        for template in (handler.confirm_template, handler.done_template):
            assert template.startswith("links/")
            assert (PROJECT_ROOT / "templates" / template).is_file(), template


def _imports(path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("package", ["users", "contracts"])
def test_the_domain_never_imports_the_links_surface(package):
    """The lock and reset mails create links, so the link rows are domain (idp/users/links.py)
    and the links surface imports them, never the other way (imports run one way)."""
    offending = sorted(
        f"{path.relative_to(PROJECT_ROOT)} imports {name}"
        for path in sorted((PROJECT_ROOT / "idp" / package).rglob("*.py"))
        for name in _imports(path)
        if name == "idp.links" or name.startswith("idp.links.")
    )
    assert offending == []


def _stored_link(provider, user_id: str, purpose: str) -> str:
    """A link row written as a later version (or a bad actor with database access) might:
    ``create_link`` itself refuses purposes without a handler."""
    token = secrets.token_urlsafe(32)
    with provider.app.app_context():
        db = provider.db()
        user = db.session.get(User, user_id)
        now = utcnow()
        db.session.add(
            MailLink(
                token_hash=hash_token(token),
                purpose=purpose,
                user_id=user_id,
                state_version=user.state_version,
                created_at=now,
                expires_at=now + timedelta(days=14),
            )
        )
        db.session.commit()
    return f"{provider.url}/links/{token}"


@pytest.mark.covers("X4")
def test_X4_a_link_whose_purpose_no_handler_serves_is_refused_not_used(provider, user):
    user_id, _email = user
    link = _stored_link(provider, user_id, "not_a_purpose")
    browser = Browser(provider.url)
    shown = browser.get(link)
    assert shown.status_code == 400 and 'data-error="link_invalid"' in shown.text
    assert "このリンクは無効です" in shown.text
    # A POST with a valid CSRF token (from another form of the site) is refused the same way.
    (form,) = forms_in(browser.get("/password/forgot").text)
    used = browser.post(link, {"csrf_token": form.fields["csrf_token"]})
    assert used.status_code == 400 and 'data-error="link_invalid"' in used.text
    with provider.app.app_context():
        row = provider.db().session.query(MailLink).filter_by(user_id=user_id).one()
        assert row.used_at is None


#: The advice each kind of link's error page gives (and no other kind's).
ADVICE = {
    LinkPurpose.UNLOCK: "unlock-link-advice",
    LinkPurpose.RESET: "reset-link-advice",
    LinkPurpose.INVITE: "link-advice",
    LinkPurpose.METHOD_CHANGE: "method-link-advice",
    LinkPurpose.EMAIL_CHANGE: "email-link-advice",
    LinkPurpose.NOT_ME: "not-me-link-advice",
}


@pytest.mark.covers("X4")
@pytest.mark.parametrize("purpose", list(LinkPurpose))
def test_X4_a_used_links_page_gives_the_advice_of_its_own_kind(provider, user, purpose):
    """An unlock link once told invitees to reset their password: each kind says its own next
    step, and only that."""
    user_id, _email = user
    link = _stored_link(provider, user_id, purpose.value)
    with provider.app.app_context():
        session = provider.db().session
        row = session.query(MailLink).filter_by(user_id=user_id, purpose=purpose.value).one()
        row.used_at = utcnow()
        session.commit()
    shown = Browser(provider.url).get(link)
    assert shown.status_code == 400 and 'data-error="link_invalid"' in shown.text
    assert f'id="{ADVICE[purpose]}"' in shown.text
    others = [advice for kind, advice in ADVICE.items() if kind != purpose]
    assert not [advice for advice in others if f'id="{advice}"' in shown.text]
    assert ("ロックされている場合" in shown.text) == (purpose == LinkPurpose.UNLOCK)
