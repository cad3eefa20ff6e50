"""The ``@step(name)`` guard (STYLE.md §2, after Canaille's ``@auth_step``): a step's view runs
only when its transaction is at that step; requested out of turn, the browser is sent to the
step that is due (``redirect_to_next_step``), so no step can be skipped by requesting a later
URL (DESIGN.md, The login transaction)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import g
from flask import redirect
from flask import request
from flask import url_for
from werkzeug.wrappers import Response

from idp import extensions
from idp.login.transaction import Transaction
from idp.login.transaction import redirect_to_next_step
from idp.models import User
from idp.models import db

TxView = Callable[..., Response]


def load_transaction(take: bool = False) -> Transaction:
    """This browser's transaction named by the ``tx`` parameter, in the language last chosen
    (a language switch on a login page carries over to the rest of the sign-in).

    :param take: take it out of the store (``Transaction.load``); the caller puts it back."""
    tx = Transaction.load(request.values.get("tx"), take=take)
    switched = g.get("switched_locale")
    if switched and switched != tx.locale:
        tx.locale = switched
        tx.save()
    g.locale = tx.locale
    return tx


def is_due(tx: Transaction, name: str) -> bool:
    """Whether ``name`` is the step this transaction is at."""
    return tx.next_step() == name


def step(
    name: str, *, user: bool = False, one_transaction: bool = False, ends_on_post: bool = False
) -> Callable[[TxView], Callable[..., Response]]:
    """Guard a view of step ``name``: it is called as ``view(tx, **url_values)``, or with
    ``user=True`` as ``view(tx, user, **url_values)`` once the transaction has identified its
    user (until then the browser goes back to the identify step).

    :param name: one of :data:`idp.login.transaction.STEPS`.
    :param one_transaction: the transaction's read and the view's store operations go with
        the request's database transaction (``EphemeralStore.transaction``): for the steps of
        every sign-in, whose views call ``store.commit()`` before any slow work that others
        must not wait for (issue 13). Not for views that send mail or SMS.
    :param ends_on_post: every answer of the view to a POST ends the transaction (finishes
        or closes it): the guard takes it out of the store instead of reading it, so that
        the finish's claim is no second operation on it (issue 13), and puts it back when
        the request ends otherwise (out of turn, an error). Single use holds: of parallel
        POSTs one takes it, the others find it gone.
    """

    def decorate(view: TxView) -> Callable[..., Response]:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Response:
            if one_transaction:
                with extensions.store().transaction():
                    return run(*args, **kwargs)
            return run(*args, **kwargs)

        def run(*args: Any, **kwargs: Any) -> Response:
            tx = load_transaction(take=ends_on_post and request.method == "POST")
            try:
                return answer(tx, *args, **kwargs)
            finally:
                tx.put_back()

        def answer(tx: Transaction, *args: Any, **kwargs: Any) -> Response:
            if not is_due(tx, name):
                return redirect_to_next_step(tx)
            if not user:
                return view(tx, *args, **kwargs)
            found = db.session.get(User, tx.user_id) if tx.user_id else None
            if found is None:
                return redirect(url_for("login.identify", tx=tx.id), code=303)
            return view(tx, found, *args, **kwargs)

        guarded.__dict__["login_step"] = name  # which step guards it (tests/test_gate.py)
        return guarded

    return decorate
