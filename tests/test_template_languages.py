"""Issue 14 (Japanese by default, English by choice; every message in both): a walk of the
pages the app serves, in English and in Japanese.

- In English no Japanese character appears, except the "日本語" language names (the switch, the
  mail-language choice) and user data (the walk's users have ASCII names and addresses).
- In Japanese no English sentence of a msgid appears (an untranslated message).
- Statically: every msgid that babel extracts from templates/ and idp/ (babel.cfg) has a
  non-empty Japanese msgstr, and no template has text outside gettext.

The walk: every GET route without arguments, anonymous and signed in as a contractor (the
account menu and the admin console), the console's per-user pages, the sign-in of a service
(wrong password, two-step enrollment, consent), the sign-out, and the pages of every kind of
mailed link with their done pages."""

from __future__ import annotations

import html as html_lib
import re
import uuid
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from idp.actor import Actor
from idp.config import PROJECT_ROOT
from idp.models import User
from idp.users.invitations import invite_user
from idp.users.links import create_link
from tests.conftest import PASSWORD
from tests.helpers import Browser
from tests.test_account_menu import account_sign_in

PO = PROJECT_ROOT / "idp/translations/ja/LC_MESSAGES/messages.po"
TEMPLATES = PROJECT_ROOT / "templates"
JAPANESE = re.compile(r"[\u3000-\u303f\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]+")
#: Language names written in their own language (the switch, the mail-language choice).
ENDONYMS = ("日本語",)
#: Japanese that is data, not language: the column names a CSV of invitations may use.
JAPANESE_DATA = ("メールアドレス,氏名,権限",)
#: Attributes a person reads or hears.
READ_ATTRIBUTES = re.compile(r'\b(?:title|aria-label|placeholder|alt)="([^"]*)"')
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]")
#: Routes that answer machines (JSON, CSV, metrics), not people.
MACHINE_PATHS = ("/api/", "/scim/", "/.well-known/", "/jwks.json", "/userinfo", "/metrics")
MACHINE_PATHS_EXACT = ("/healthz", "/readyz", "/admin/audit.csv")


def visible_text(page: str) -> str:
    """What a person reads or hears on the page: the body's text and the read attributes."""
    body = page.split("<body", 1)[-1]
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S | re.I)
    attributes = " ".join(READ_ATTRIBUTES.findall(body))
    text = re.sub(r"<[^>]+>", " ", body)
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    return html_lib.unescape(" ".join([title.group(1) if title else "", text, attributes]))


def japanese_in(page: str) -> list[str]:
    text = visible_text(page)
    for name in ENDONYMS + JAPANESE_DATA:
        text = text.replace(name, " ")
    return JAPANESE.findall(text)


def _english_sentences() -> list[str]:
    """The English fragments (three words or more, between placeholders) of every translated
    msgid whose msgstr differs from it."""
    with PO.open("rb") as handle:
        catalog = read_po(handle)
    sentences: set[str] = set()
    for message in catalog:
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for msgid in ids:
            if msgid in strings:
                continue
            for fragment in PLACEHOLDER.split(msgid):
                fragment = fragment.strip(" .,:;()“”\"'")
                if len(fragment.split()) >= 3:
                    sentences.add(fragment)
    return sorted(sentences, key=len, reverse=True)


ENGLISH_SENTENCES = _english_sentences()


def untranslated_in(page: str) -> list[str]:
    text = " ".join(visible_text(page).split())
    return [sentence for sentence in ENGLISH_SENTENCES if sentence in text]


class Walk:
    """Pages seen on the walk, checked in one language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.problems: dict[str, list[str]] = {}
        self.seen = 0

    def check(self, where: str, response) -> None:
        if "text/html" not in response.headers.get("Content-Type", ""):
            return
        self.seen += 1
        found = japanese_in(response.text) if self.lang == "en" else untranslated_in(response.text)
        if found:
            self.problems[f"{where} ({response.status_code})"] = found

    def get(self, browser: Browser, path: str) -> object:
        response = browser.get(path)
        self.check(path, response)
        return response

    def submit(self, browser: Browser, where: str, page, form_id=None, **values):
        response = browser.submit(page, form_id, **values)
        self.check(where, response)
        return response


def _page_paths(provider) -> list[str]:
    paths = []
    for rule in provider.app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments:
            continue
        if rule.rule.startswith(MACHINE_PATHS) or rule.rule in MACHINE_PATHS_EXACT:
            continue
        paths.append(rule.rule)
    return sorted(paths)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.jp"


def _walk_routes(walk: Walk, provider, lang: str) -> None:
    anonymous = Browser(provider.url)
    walk.get(anonymous, f"/?lang={lang}")
    for path in _page_paths(provider):
        walk.get(anonymous, path)
    walk.get(anonymous, "/no-such-page")
    forgot = walk.get(anonymous, "/password/forgot")
    walk.submit(anonymous, "forgot (empty)", forgot, email="")
    walk.submit(anonymous, "forgot (sent)", forgot, email=_unique("nobody"))

    contract_id = provider.new_contract(plan="basic", two_factor=False)
    _contractor_id, email = provider.new_user(
        contract_id, role="contractor", name="Contractor", email=_unique("c")
    )
    other_id, _other = provider.new_user(contract_id, name="Member", email=_unique("m"))
    menu_login = walk.get(Browser(provider.url), f"/account/login?lang={lang}")
    assert menu_login.status_code == 200
    browser, _menu = account_sign_in(provider, email)
    walk.get(browser, f"/account?lang={lang}")
    for path in _page_paths(provider):
        walk.get(browser, path)
    for suffix in ("", "/what-if", "/email", "/role", "/disable", "/delete", "/sign-out"):
        walk.get(browser, f"/admin/users/{other_id}{suffix}")
    walk.get(browser, "/admin/users/no-such-user")
    walk.get(browser, "/account/sessions/no-such-session")


def _walk_sign_in(walk: Walk, provider, lang: str) -> None:
    rp = provider.new_client()
    _user_id, email = provider.new_user(name="Signer", email=_unique("s"))
    browser = Browser(provider.url)
    login = walk.get(browser, rp.authorize_url(ui_locales=lang))
    walk.submit(browser, "login (wrong)", login, "password-form", email=email, password="x")
    walk.submit(browser, "login (empty)", login, "password-form", email="", password="")

    untrusted = provider.new_client(trusted=False)
    consent = Browser(provider.url)
    page = walk.get(consent, untrusted.authorize_url(ui_locales=lang))
    walk.submit(consent, "consent", page, "password-form", email=email, password=PASSWORD)

    two_factor = provider.new_contract(plan="basic", two_factor=True)
    _id, second = provider.new_user(two_factor, name="Second", email=_unique("t"))
    enroll = Browser(provider.url)
    page = walk.get(enroll, rp.authorize_url(ui_locales=lang))
    page = walk.submit(enroll, "2fa start", page, "password-form", email=second, password=PASSWORD)
    for path in ("/login/2fa/enroll/app", "/login/2fa/enroll/sms", "/login/2fa/recovery"):
        tx = re.search(r"tx=([\w-]+)", page.url or "") or re.search(
            r'name="tx" value="([^"]+)"', page.text
        )
        if tx:
            walk.get(enroll, f"{path}?tx={tx.group(1)}")

    signed_in = Browser(provider.url)
    rp.login_tokens(signed_in, email, PASSWORD)
    confirm = walk.get(signed_in, f"/logout?lang={lang}")
    walk.submit(signed_in, "logged out", confirm, confirm="yes")


def _walk_links(walk: Walk, provider, lang: str, mailbox) -> None:
    contract_id = provider.new_contract(plan="basic", two_factor=False)
    provider.new_user(contract_id, role="contractor", email=_unique("c"))
    user_id, _email = provider.new_user(contract_id, name="Linked", email=_unique("l"))
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        user.locked_at = user.created_at
        provider.db().session.commit()
        links = {
            purpose: create_link(user, purpose) for purpose in ("reset", "unlock", "method_change")
        }
        links["email_change"] = create_link(user, "email_change", {"new_email": _unique("n")})
        invited = _unique("i")
        invite_user(Actor.cli(), contract_id, invited, "Invited")
    mail = mailbox.wait_for(to=invited, subject_contains="WORKSDRIVE")
    links["invite"] = [u for u in mailbox.links_in(mail) if "/links/" in u][0]
    browser = Browser(provider.url)
    browser.get(f"/?lang={lang}")
    pages = {purpose: walk.get(browser, url) for purpose, url in links.items()}
    walk.get(browser, "/links/no-such-token")
    new_password = {"password": "Fresh-Start-2026", "password_confirmation": "Fresh-Start-2026"}
    walk.submit(browser, "reset (refused)", pages["reset"], password="short")
    walk.submit(browser, "reset (done)", pages["reset"], **new_password)
    walk.submit(browser, "reset (used)", pages["reset"], **new_password)
    walk.submit(browser, "invite (password)", pages["invite"], "password-form", **new_password)


@pytest.mark.covers("L1")
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_every_page_walked_is_in_one_language(provider, mailbox, lang):
    walk = Walk(lang)
    _walk_routes(walk, provider, lang)
    _walk_sign_in(walk, provider, lang)
    _walk_links(walk, provider, lang, mailbox)
    assert walk.seen > 60
    assert walk.problems == {}


def _extracted_msgids() -> dict[str, list[str]]:
    with (PROJECT_ROOT / "babel.cfg").open() as handle:
        method_map, options = parse_mapping_cfg(handle)
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(PROJECT_ROOT), method_map, options
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def test_every_msgid_used_has_a_japanese_msgstr():
    """babel's extraction over templates/ and idp/ (babel.cfg) against the .po."""
    with PO.open("rb") as handle:
        catalog = read_po(handle)
    translated: dict[str, bool] = {}
    for message in catalog:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for msgid in ids:
            translated[msgid] = bool(strings) and all(s.strip() for s in strings)
    used = _extracted_msgids()
    assert len(used) > 500
    missing = {msgid: where[:2] for msgid, where in used.items() if not translated.get(msgid)}
    assert missing == {}


def _text_outside_gettext(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    for pattern in (
        r"\{% block main_class %\}.*?\{% endblock %\}",
        r"\{#.*?#\}",
        r"\{\{.*?\}\}",
        r"\{%.*?%\}",
        r"<[^>]*>",
        # Attributes a macro writes into its caller's tag (account/_fields.html, _macros.html).
        r"\b(?:aria-[a-z]+|autofocus)\b(?:=\"[^\"]*\")?",
    ):
        source = re.sub(pattern, " ", source, flags=re.S)
    words = []
    for line in source.splitlines():
        text = line.strip()
        for name in ENDONYMS + ("English", "WORKSDRIVE"):
            text = text.replace(name, "")
        if re.search(r"[A-Za-z]{2,}", text) or JAPANESE.search(text):
            words.append(line.strip())
    return words


@pytest.mark.parametrize(
    "page",
    sorted(
        p.relative_to(TEMPLATES).as_posix()
        for p in TEMPLATES.rglob("*.html")
        if not p.relative_to(TEMPLATES).as_posix().startswith("demo/")
    ),
)
def test_no_template_has_text_outside_gettext(page):
    """A sentence written straight into a template shows in one language only."""
    assert _text_outside_gettext(TEMPLATES / page) == []
