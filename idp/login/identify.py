"""Identify step, by password (L2, K1): one argon2id verification per attempt, the attempt
reserved atomically first so that parallel wrong passwords cannot pass the limit. Before any
account is looked at, the client address has its own limit of failed attempts, so that one
address cannot lock out a contract's users."""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value

from idp import audit
from idp import extensions
from idp.actor import Actor
from idp.login.limits import Attempt
from idp.login.limits import Limit
from idp.login.limits import reserve
from idp.models import Contract
from idp.models import User
from idp.models import db
from idp.models import transient
from idp.store.base import subject as store_subject
from idp.users.find import email_key
from idp.users.lockout import lock_account
from idp.users.lockout import reserve_password_attempt
from policies.lockout import MAX_FAILED_LOGINS
from policies.lockout import locks_after_failure

UNKNOWN_FAIL_PREFIX = "fail-unknown:"
#: Unknown emails count towards a lock just like known ones, so the answers match (L2).
UNKNOWN_FAIL_TTL = 14 * 86400
IP_LIMIT_PREFIX = "fail-ip"


@dataclass(frozen=True)
class PasswordResult:
    user: User | None
    #: Reason code for the audit log when refused (``wrong_password``, ``locked``, …).
    reason: str | None = None
    #: Show the "account locked" message (also shown for unknown emails after 10 tries).
    looks_locked: bool = False
    #: Refused by the per-address limit (``ip_rate_limited``): the counter to wait for.
    limit_key: str | None = None
    #: The user's contract, read with the user (the policies step needs it next).
    contract: Contract | None = None


_USERS = User.__table__
_CONTRACTS = Contract.__table__
_USER_COLUMNS = [column.key for column in _USERS.c]
_CONTRACT_COLUMNS = [column.key for column in _CONTRACTS.c]
#: The user of an email and their contract, in one Core statement built once (issue 13: no
#: ORM on the sign-in's hot path; the ORM's select, map and load cost more than the query).
_FIND_WITH_CONTRACT = (
    select(_USERS, _CONTRACTS)
    .select_from(_USERS.outerjoin(_CONTRACTS, _CONTRACTS.c.id == _USERS.c.contract_id))
    .where(_USERS.c.email_key == bindparam("email_key"))
)
#: A right password clears the row of failures (K1); built once.
_RESET_FAILURES = update(_USERS).where(_USERS.c.id == bindparam("user_id")).values(failed_logins=0)
#: The same, storing the password hashed again at the current parameters.
_RESET_FAILURES_AND_REHASH = _RESET_FAILURES.values(password_hash=bindparam("password_hash"))


def _find_with_contract(email: str) -> tuple[User | None, Contract | None]:
    """The user of this email and their contract, in one statement, as transient objects
    (``idp.models.transient``: columns only, never added to the session; what the sign-in
    writes to the user's row it writes by statement)."""
    row = (
        db.session.connection()
        .execute(_FIND_WITH_CONTRACT, {"email_key": email_key(email)})
        .first()
    )
    if row is None:
        return None, None
    split = len(_USER_COLUMNS)
    user = transient(User, dict(zip(_USER_COLUMNS, row[:split], strict=True)))
    contract_row = dict(zip(_CONTRACT_COLUMNS, row[split:], strict=True))
    contract = transient(Contract, contract_row) if contract_row["id"] is not None else None
    return user, contract


def address_subject(client_ip: str) -> str:
    """The per-address counter's subject: the address, or its /64 for IPv6 (one host
    commonly holds a whole /64). An IPv6 subject is written in braces (idp/store/base.py's
    ``subject``), so that the whole /64, not its first group, is the subject and every /64
    has its own Redis Cluster slot; an IPv4 subject, without ``:``, is written bare."""
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return store_subject(client_ip[:64].replace("{", "").replace("}", ""))
    if address.version == 6:
        return store_subject(str(ipaddress.ip_network(f"{address}/64", strict=False)))
    return str(address)


def _reserve_for_address(client_ip: str | None) -> Attempt | None:
    """Count this attempt against its address first (atomic); None when there is no limit."""
    settings = extensions.settings()
    if not client_ip or settings.login_failures_per_ip <= 0:
        return None
    limit = Limit(
        IP_LIMIT_PREFIX, settings.login_failures_per_ip, settings.login_failures_per_ip_window
    )
    return reserve(limit, address_subject(client_ip))


def check_password_login(email: str, password: str, client_ip: str | None = None) -> PasswordResult:
    """Identify a ``password`` user. Every path costs one argon2id verification, except a
    refusal by the per-address limit, which looks at no account (the same for every email).

    :param client_ip: ``request.remote_addr`` (ProxyFix applies ``IDP_TRUSTED_PROXIES``).
    """
    hashing = extensions.passwords()
    store = extensions.store()
    from_address = _reserve_for_address(client_ip)
    if from_address is not None and not from_address.allowed:
        audit.record(
            "login",
            "refused",
            "ip_rate_limited",
            details={"attempts": from_address.count},
        )
        return PasswordResult(None, "ip_rate_limited", limit_key=from_address.key)
    user, contract = _find_with_contract(email)
    if user is None or user.login_method != "password":
        store.commit()  # the address's count is seen by others before the hash
        hashing.verify(None, password)
        digest = hashlib.sha256(email_key(email).encode()).hexdigest()
        count = store.incr(UNKNOWN_FAIL_PREFIX + digest, UNKNOWN_FAIL_TTL)
        reason = "unknown_email" if user is None else "not_password_method"
        audit.record("login", "refused", reason, user_id=user.id if user else None)
        return PasswordResult(None, reason, looks_locked=count >= MAX_FAILED_LOGINS)

    attempt = reserve_password_attempt(user.id)  # commits, with the address's count
    if attempt is None:
        hashing.verify(None, password)
        audit.record("login", "refused", "locked", user_id=user.id, contract_id=user.contract_id)
        return PasswordResult(None, "locked", looks_locked=True)

    if hashing.verify(user.password_hash, password):
        if from_address is not None:
            from_address.hand_back()  # the address's counter counts failures only
        if user.password_hash and hashing.needs_rehash(user.password_hash):
            rehashed = hashing.hash(password)
            db.session.connection().execute(
                _RESET_FAILURES_AND_REHASH, {"user_id": user.id, "password_hash": rehashed}
            )
            set_committed_value(user, "password_hash", rehashed)
        else:
            db.session.connection().execute(_RESET_FAILURES, {"user_id": user.id})
        # With the step's store writes (the SQL store joins this transaction) when the
        # request commits them; else now.
        if not store.defer_commit():
            db.session.commit()
        set_committed_value(user, "failed_logins", 0)  # what the statement wrote (no re-read)
        return PasswordResult(user, contract=contract)

    audit.record(
        "login",
        "refused",
        "wrong_password",
        user_id=user.id,
        contract_id=user.contract_id,
        details={"attempt": attempt},
    )
    if locks_after_failure(attempt):
        lock_account(Actor.system("login"), user)
        return PasswordResult(None, "wrong_password", looks_locked=True)
    return PasswordResult(None, "wrong_password")
