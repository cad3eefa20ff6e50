"""Outgoing mail: real SMTP when ``IDP_SMTP_URL`` is set, else ``.eml`` files in the outbox
folder (shown on the developer page in demo mode). Mails are rendered from
``templates/mail/<purpose>.<locale>.txt``."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask import render_template

from idp import extensions
from idp.mail.mailer import Mailer
from idp.mail.queue import enqueue

__all__ = ["SUBJECTS", "Mailer", "render_mail", "send_mail"]

#: SPEC Mails: subjects per purpose and language.
SUBJECTS: dict[str, dict[str, str]] = {
    "lock": {"ja": "【WORKSDRIVE】アカウントロック", "en": "[WORKSDRIVE] Your account is locked"},
    "reset": {"ja": "【WORKSDRIVE】パスワードリセット", "en": "[WORKSDRIVE] Password reset"},
    "invite": {
        "ja": "【WORKSDRIVE】利用者登録のご案内",
        "en": "[WORKSDRIVE] Invitation to register",
    },
    "email_change": {
        "ja": "【WORKSDRIVE】メールアドレス変更登録",
        "en": "[WORKSDRIVE] Confirm your new email address",
    },
    "not_me": {
        "ja": "【WORKSDRIVE】アカウント情報変更のお知らせ",
        "en": "[WORKSDRIVE] Your account was changed",
    },
    "ad_connection": {
        "ja": "【WORKSDRIVE】Active Directoryアカウントのログイン用URL・接続ID通知",
        "en": "[WORKSDRIVE] Active Directory login URLs and connection ID",
    },
    # D2: the user's own copy of the D1 mail, under the same subject.
    "ad_login": {
        "ja": "【WORKSDRIVE】Active Directoryアカウントのログイン用URL・接続ID通知",
        "en": "[WORKSDRIVE] Active Directory login URLs and connection ID",
    },
    "method_change": {
        "ja": "【WORKSDRIVEログイン方法の設定変更】",
        "en": "[WORKSDRIVE] Change your login method",
    },
}


def render_mail(purpose: str, locale: str, **context: Any) -> tuple[str, str]:
    locale = locale if locale in ("ja", "en") else "ja"
    subject = SUBJECTS[purpose][locale]
    body = render_template(f"mail/{purpose}.{locale}.txt", **context)
    return subject, body


def send_mail(to: str, purpose: str, locale: str, **context: Any) -> None:
    """Render the mail, queue it (``idp/mail/queue.py``; commits) and send it off the
    request thread; if the SMTP server cannot take it now, the queue's worker retries.

    Call after the change the mail is about is committed."""
    mailer = extensions.mailer()
    subject, body = render_mail(purpose, locale, **context)
    user = context.get("user")
    row_id = enqueue(mailer.build(to, subject, body), purpose, getattr(user, "id", None))
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    mailer.send_queued(app, row_id)
