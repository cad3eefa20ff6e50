"""The login transaction record and the rule that picks the next step (STYLE.md §2)."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from flask import redirect
from flask import request
from flask import url_for
from werkzeug.wrappers import Response

from idp import extensions
from idp.cookies import set_cookie
from idp.errors import TransactionError

TX_PREFIX = "tx:"
BROWSER_COOKIE = "idp_browser"
#: The order of the steps (DESIGN.md, The login transaction).
STEPS = ("identify", "policies", "line_notice", "second_factor", "consent", "finish")
STEP_ENDPOINTS = {
    "identify": "login.identify",
    "line_notice": "login.line_notice",
    "second_factor": "twofactor.start",
    "consent": "login.consent",
    "finish": "login.finish",
}


def browser_id() -> str | None:
    value = request.cookies.get(BROWSER_COOKIE)
    return value if value and len(value) <= 64 else None


def browser_for_transaction() -> tuple[str, bool]:
    """This browser's binding id, and whether it is new (then :func:`bind_browser` must set
    it on the response that starts the transaction)."""
    existing = browser_id()
    return (existing, False) if existing else (secrets.token_urlsafe(24), True)


def bind_browser(response: Response, browser: str) -> None:
    """Set the cookie that binds transactions to this browser (a year and more)."""
    set_cookie(response, BROWSER_COOKIE, browser, max_age=400 * 86400)


def _browser_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class Transaction:
    """One sign-in in progress; which steps are achieved is known only server-side."""

    id: str
    browser: str
    params: dict[str, str]
    client_id: str
    target: str = "frontend"
    route: dict[str, Any] = field(default_factory=lambda: {"kind": "internet"})
    locale: str = "ja"
    login_hint: str = ""
    user_id: str | None = None
    achieved: list[str] = field(default_factory=list)
    amr: list[str] = field(default_factory=list)
    needs_consent: bool = False
    #: Set by the policies step when L3 asks for a second factor.
    needs_second_factor: bool = False
    #: Set by the policies step for a West Japan line's first access (L9).
    needs_line_notice: bool = False
    #: Step-private state (pending phone number, sealed TOTP seed, …); never secrets in clear.
    data: dict[str, Any] = field(default_factory=dict)
    #: The SSO session's claims when an existing sign-in is reused (consent only).
    reused_session: dict[str, Any] | None = None
    created_at: float = field(default_factory=time.time)
    #: Taken out of the store by this request (``load(take=True)``), not put back yet: the
    #: store holds it no more, so :meth:`claim` and :meth:`close` have nothing to remove.
    #: Not a field (never stored).
    _taken = False

    @classmethod
    def open(cls, browser: str, **values: Any) -> Transaction:
        return cls(id=secrets.token_urlsafe(24), browser=_browser_hash(browser), **values)

    @classmethod
    def load(cls, tx_id: str | None, *, take: bool = False) -> Transaction:
        """The transaction of this browser; anything else is an expired or foreign one.

        :param take: take it out of the store (atomic pop) instead of reading it, for a
            request whose every answer ends it (the consent form: finish or deny): of
            parallel requests one gets it, and its :meth:`claim` is then no second store
            operation (issue 13). The caller puts it back (:meth:`put_back`) when the
            request ends otherwise. Another browser's is put back at once.
        """
        if not tx_id or len(tx_id) > 64:
            raise TransactionError("missing")
        browser = browser_id()
        if browser is None:
            raise TransactionError("expired")
        store = extensions.store()
        data = store.pop_json(TX_PREFIX + tx_id) if take else store.get_json(TX_PREFIX + tx_id)
        if data is None:
            raise TransactionError("expired")
        tx = cls(**data)
        if not secrets.compare_digest(tx.browser, _browser_hash(browser)):
            if take:
                tx.save()  # not this browser's to take
            raise TransactionError("foreign")
        tx._taken = take
        return tx

    def save(self) -> None:
        ttl = extensions.settings().login_transaction_ttl
        extensions.store().set_json(TX_PREFIX + self.id, asdict(self), ttl)
        self._taken = False

    def put_back(self) -> None:
        """Return a transaction this request took (``load(take=True)``) and neither
        finished, closed nor saved to the store."""
        if self._taken:
            self.save()

    def close(self) -> None:
        if self._taken:
            self._taken = False  # taken already: nothing left in the store
            return
        extensions.store().delete(TX_PREFIX + self.id)

    def claim(self) -> bool:
        """Take the transaction out of the store to finish it (atomic pop): of parallel
        finishes (a double-clicked button), one gets it and issues the code. A transaction
        this request took already (``load(take=True)``) is this request's."""
        if self._taken:
            self._taken = False
            return True
        return extensions.store().pop(TX_PREFIX + self.id) is not None

    def achieve(self, step: str) -> None:
        if step not in self.achieved:
            self.achieved.append(step)

    def next_step(self) -> str:
        for step in STEPS:
            if step == "consent" and not self.needs_consent:
                continue
            if step == "second_factor" and not self.needs_second_factor:
                continue
            if step == "line_notice" and not self.needs_line_notice:
                continue
            if step not in self.achieved:
                return step
        return "finish"


def redirect_to_next_step(tx: Transaction) -> Response:
    """The only place that decides where a transaction goes next."""
    step = tx.next_step()
    if step == "policies":
        # Policies run server-side right after identification; never a page of their own.
        step = "identify"
    return redirect(url_for(STEP_ENDPOINTS[step], tx=tx.id), code=303)
