"""G2, X9: one contract's users as the admin console and the admin API list them: search,
filters, sort and keyset paging.

Keyset, not OFFSET (X9): a page is "the next N after (sort value, id)", so the thousandth page
costs what the first does; the cursor is opaque to callers. The total is capped
(``COUNT_CAP``): a list shows "1,000+" rather than counting rows nobody pages through. A page
costs two statements whatever its size (tests/test_user_listing.py counts them). Reading
changes nothing, so nothing is audited here.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import and_
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import tuple_

from idp.errors import ProvisioningError
from idp.models import Invitation
from idp.models import User
from idp.models import UserSearchGram
from idp.models import db
from idp.models import name_key
from idp.search_grams import search_grams
from idp.vocabulary import LoginMethod
from idp.vocabulary import Role

#: The total is counted up to this many; beyond, the list says "1,000+".
COUNT_CAP = 1000
#: The largest page a caller may ask for.
MAX_PAGE_SIZE = 200
#: A longer search is cut to this many characters (no name or address is longer to matter).
MAX_SEARCH_LENGTH = 100
_LIKE_ESCAPE = "\\"


class ListingError(ProvisioningError):
    """A list request that cannot be answered: a cursor that is not ours or not this
    list's, a page size out of range."""

    default_reason = "bad_list_request"


class UserSort(StrEnum):
    EMAIL = "email"
    NAME = "name"
    CREATED = "created"


@dataclass(frozen=True)
class UserFilters:
    """G2's filters; ``None`` means "either"."""

    method: LoginMethod | None = None
    role: Role | None = None
    is_locked: bool | None = None
    #: Has completed 2FA enrollment (T2 clears it).
    has_two_factor: bool | None = None
    #: Invited and not registered yet (L10).
    is_invited: bool | None = None
    #: Disabled by an administrator (G4).
    is_disabled: bool | None = None


@dataclass(frozen=True)
class UserListQuery:
    contract_id: str
    #: Matches part of the email or of the name (width and case ignored).
    search: str = ""
    filters: UserFilters = field(default_factory=UserFilters)
    sort: UserSort = UserSort.EMAIL
    is_descending: bool = False
    #: The ``next_cursor`` of the page before; None: the first page.
    after: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class UserRow:
    id: str
    email: str
    name: str
    role: str
    login_method: str
    is_locked: bool
    has_two_factor: bool
    is_invited: bool
    created_at: datetime
    #: Disabled by an administrator (G4).
    is_disabled: bool = False


@dataclass(frozen=True)
class UserPage:
    rows: list[UserRow]
    #: Pass as ``after`` for the next page; None on the last page.
    next_cursor: str | None
    #: How many users match, up to ``COUNT_CAP``; ``is_total_capped``: more than that.
    total: int
    is_total_capped: bool


def _sort_column(sort: UserSort) -> Any:
    # The email key is unique: alone it orders; names and times repeat, so the id follows.
    return {
        UserSort.EMAIL: User.email_key,
        UserSort.NAME: User.name_key,
        UserSort.CREATED: User.created_at,
    }[sort]


def _is_pending_invitation() -> ColumnElement[bool]:
    return exists().where(Invitation.user_id == User.id, Invitation.registered_at.is_(None))


def _escape_like(text: str) -> str:
    return (
        text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
        .replace("%", _LIKE_ESCAPE + "%")
        .replace("_", _LIKE_ESCAPE + "_")
    )


def _conditions(query: UserListQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [User.contract_id == query.contract_id]
    needle = name_key(query.search.strip())[:MAX_SEARCH_LENGTH]
    if needle:
        grams = search_grams(needle)
        if grams is not None:
            # X9: first the few users holding every bigram of the search (an index lookup
            # per bigram), then the real substring check on those alone.
            candidates = (
                select(UserSearchGram.user_id)
                .where(
                    UserSearchGram.contract_id == query.contract_id,
                    UserSearchGram.gram.in_(sorted(grams)),
                )
                .group_by(UserSearchGram.user_id)
                .having(func.count() == len(grams))
            )
            conditions.append(User.id.in_(candidates))
        pattern = f"%{_escape_like(needle)}%"
        conditions.append(
            or_(
                User.name_key.like(pattern, escape=_LIKE_ESCAPE),
                User.email_key.like(pattern, escape=_LIKE_ESCAPE),
            )
        )
    filters = query.filters
    if filters.method is not None:
        conditions.append(User.login_method == filters.method.value)
    if filters.role is not None:
        conditions.append(User.role == filters.role.value)
    if filters.is_locked is not None:
        is_locked = User.locked_at.is_not(None)
        conditions.append(is_locked if filters.is_locked else ~is_locked)
    if filters.has_two_factor is not None:
        enrolled = User.two_factor_enrolled_at.is_not(None)
        conditions.append(enrolled if filters.has_two_factor else ~enrolled)
    if filters.is_disabled is not None:
        is_disabled = User.disabled_at.is_not(None)
        conditions.append(is_disabled if filters.is_disabled else ~is_disabled)
    if filters.is_invited is not None:
        # Through the invitations of this contract (few), not a check per user row.
        invited = User.id.in_(
            select(Invitation.user_id).where(
                Invitation.contract_id == query.contract_id, Invitation.registered_at.is_(None)
            )
        )
        conditions.append(invited if filters.is_invited else ~invited)
    return conditions


def _encode_cursor(query: UserListQuery, sort_value: Any, user_id: str) -> str:
    value = sort_value.isoformat() if isinstance(sort_value, datetime) else str(sort_value)
    raw = json.dumps([query.sort.value, query.is_descending, value, user_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(query: UserListQuery, cursor: str) -> tuple[Any, str]:
    """(sort value, id) after which the page starts; ``ListingError`` for a cursor that is
    not one this list handed out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sort, is_descending, value, user_id = json.loads(raw)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ListingError("The page link is not valid.", "bad_cursor") from None
    if (
        sort != query.sort.value
        or is_descending is not query.is_descending
        or not isinstance(value, str)
        or not isinstance(user_id, str)
        or len(value) > 400
        or len(user_id) > 32
    ):
        raise ListingError("The page link is not valid.", "bad_cursor")
    if query.sort == UserSort.CREATED:
        try:
            return datetime.fromisoformat(value), user_id
        except ValueError:
            raise ListingError("The page link is not valid.", "bad_cursor") from None
    return value, user_id


def _after(query: UserListQuery) -> ColumnElement[bool] | None:
    if query.after is None:
        return None
    value, user_id = _decode_cursor(query, query.after)
    column = _sort_column(query.sort)
    comparison: ColumnElement[bool]
    if query.sort == UserSort.EMAIL:
        comparison = column < value if query.is_descending else column > value
    else:
        key = tuple_(column, User.id)
        comparison = key < (value, user_id) if query.is_descending else key > (value, user_id)
    return comparison


def list_users(query: UserListQuery) -> UserPage:
    """One page of ``query.contract_id``'s users (the caller has checked that the actor may
    list this contract: G8)."""
    if not 1 <= query.limit <= MAX_PAGE_SIZE:
        raise ListingError(f"A page holds 1 to {MAX_PAGE_SIZE} users.", "bad_page_size")
    conditions = _conditions(query)
    after = _after(query)
    column = _sort_column(query.sort)
    order = [column.desc(), User.id.desc()] if query.is_descending else [column, User.id]
    statement = (
        select(
            User.id,
            User.email,
            User.name,
            User.role,
            User.login_method,
            User.locked_at.is_not(None),
            User.two_factor_enrolled_at.is_not(None),
            _is_pending_invitation(),
            User.created_at,
            User.disabled_at.is_not(None),
            column.label("sort_key"),
        )
        .where(and_(*conditions, *([after] if after is not None else [])))
        .order_by(*order)
        .limit(query.limit + 1)
    )
    found = db.session.execute(statement).all()
    rows = [UserRow(*tuple(row)[:-1]) for row in found[: query.limit]]
    has_more = len(found) > query.limit
    counted = select(User.id).where(*conditions).limit(COUNT_CAP + 1).subquery()
    total = db.session.execute(select(func.count()).select_from(counted)).scalar_one()
    return UserPage(
        rows=rows,
        next_cursor=_encode_cursor(query, found[query.limit - 1][-1], rows[-1].id)
        if has_more
        else None,
        total=min(total, COUNT_CAP),
        is_total_capped=total > COUNT_CAP,
    )
