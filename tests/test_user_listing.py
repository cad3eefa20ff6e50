"""G2, G8, X9: one contract's users as the admin list pages through them — search (Japanese
names, two-character kanji surnames, full-width letters), filters, every sort both ways, keyset
paging without gaps or repeats, a capped total, tampered page links refused, another contract's
users never listed, and a constant number of SQL statements whatever the page size."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import event

from idp.actor import Actor
from idp.models import User
from idp.models import utcnow
from idp.users.invitations import invite_user
from idp.users.listing import COUNT_CAP
from idp.users.listing import ListingError
from idp.users.listing import UserFilters
from idp.users.listing import UserListQuery
from idp.users.listing import UserSort
from idp.users.listing import list_users
from idp.vocabulary import LoginMethod
from idp.vocabulary import Role

NAMES = [
    "田中 太郎",
    "田中 花子",
    "山田 一郎",
    "ＴＡＮＡＫＡ Ｋｅｎ",
    "Tanaka Yui",
    "中田 翔",
    "佐藤 100%",
]


def people(provider, contract_id, names=NAMES):
    """(id, email, name) per name, created one second apart (a stable created order)."""
    made = []
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with provider.app.app_context():
        session = provider.db().session
        for index, name in enumerate(names):
            email = f"p{index:04d}-{uuid.uuid4().hex[:6]}@example.jp"
            user = User(
                contract_id=contract_id,
                email=email,
                email_key=email.casefold(),
                name=name,
                created_at=start + timedelta(seconds=index),
            )
            session.add(user)
            session.flush()
            made.append((user.id, email, name))
        session.commit()
    return made


def listed(provider, contract_id, **values):
    with provider.app.app_context():
        return list_users(UserListQuery(contract_id=contract_id, **values))


def names_of(page):
    return sorted(row.name for row in page.rows)


def test_G2_X9_search_finds_two_character_kanji_surnames_and_ignores_width(provider):
    contract_id = provider.new_contract()
    people(provider, contract_id)
    other = provider.new_contract()
    people(provider, other, ["田中 別人"])  # G8: never in this contract's list
    assert names_of(listed(provider, contract_id, search="田中")) == ["田中 太郎", "田中 花子"]
    assert names_of(listed(provider, contract_id, search="中田")) == ["中田 翔"]
    # Full-width and case fold: "tanaka" finds ＴＡＮＡＫＡ and Tanaka; "ＹＵＩ" finds Yui.
    assert names_of(listed(provider, contract_id, search="tanaka")) == [
        "Tanaka Yui",
        "ＴＡＮＡＫＡ Ｋｅｎ",
    ]
    assert names_of(listed(provider, contract_id, search="ＹＵＩ")) == ["Tanaka Yui"]
    # A LIKE wildcard typed by the admin is a character, not "everything".
    assert names_of(listed(provider, contract_id, search="%")) == ["佐藤 100%"]
    assert names_of(listed(provider, contract_id, search="_")) == []


def test_G2_search_by_part_of_the_email(provider):
    contract_id = provider.new_contract()
    made = people(provider, contract_id)
    _id, email, name = made[2]
    page = listed(provider, contract_id, search=email.split("@")[0].upper())
    assert [row.name for row in page.rows] == [name]


def test_G2_filters_method_role_locked_two_factor_invited(provider):
    contract_id = provider.new_contract()
    admin_id, _ = provider.new_user(contract_id, role=Role.ADMIN, name="管理 者")
    locked_id, _ = provider.new_user(contract_id, name="鍵 掛")
    enrolled_id, _ = provider.new_user(contract_id, name="二 段")
    google_id, _ = provider.new_user(contract_id, password=None, method="google", name="外 部")
    with provider.app.app_context():
        session = provider.db().session
        session.get(User, locked_id).locked_at = utcnow()
        session.get(User, enrolled_id).two_factor_enrolled_at = utcnow()
        session.commit()
        invited = invite_user(Actor.cli(), contract_id, "new@example.jp", "招待 中").user_id

    def ids(**filters):
        return {
            row.id for row in listed(provider, contract_id, filters=UserFilters(**filters)).rows
        }

    assert ids(role=Role.ADMIN) == {admin_id}
    assert ids(is_locked=True) == {locked_id}
    assert locked_id not in ids(is_locked=False)
    assert ids(has_two_factor=True) == {enrolled_id}
    assert ids(method=LoginMethod.GOOGLE) == {google_id}
    assert ids(is_invited=True) == {invited}
    assert invited not in ids(is_invited=False)
    assert ids(role=Role.ADMIN, is_locked=True) == set()
    row = next(r for r in listed(provider, contract_id).rows if r.id == invited)
    assert row.is_invited and not row.is_locked


@pytest.mark.parametrize("sort", list(UserSort))
@pytest.mark.parametrize("is_descending", [False, True])
def test_X9_keyset_pages_cover_everyone_once_in_order(provider, sort, is_descending):
    contract_id = provider.new_contract()
    # Repeated names: the id breaks ties, so no one is skipped or shown twice at a page edge.
    made = people(provider, contract_id, ["同じ 名前"] * 6 + [f"人 {i:02d}" for i in range(17)])
    seen, after, pages = [], None, 0
    while True:
        page = listed(
            provider, contract_id, sort=sort, is_descending=is_descending, after=after, limit=5
        )
        assert page.total == len(made) and not page.is_total_capped
        seen.extend(page.rows)
        pages += 1
        after = page.next_cursor
        if after is None:
            break
    assert pages == 5 and len(seen) == len(made) == len({row.id for row in seen})
    key = {
        UserSort.EMAIL: lambda row: (row.email.casefold(),),
        UserSort.NAME: lambda row: (row.name, row.id),
        UserSort.CREATED: lambda row: (row.created_at.replace(tzinfo=None), row.id),
    }[sort]
    assert [key(row) for row in seen] == sorted((key(row) for row in seen), reverse=is_descending)


def test_X9_the_total_is_capped(provider):
    contract_id = provider.new_contract()
    people(provider, contract_id, [f"多 {i}" for i in range(COUNT_CAP + 5)])
    page = listed(provider, contract_id, limit=10)
    assert page.total == COUNT_CAP and page.is_total_capped
    exact = listed(provider, contract_id, search="多 1", limit=10)  # 1, 10–19, 100–199, 1000–
    assert not exact.is_total_capped and exact.total == 1 + 10 + 100 + 5


def test_G8_a_tampered_or_foreign_page_link_is_refused(provider):
    contract_id = provider.new_contract()
    people(provider, contract_id, [f"人 {i}" for i in range(4)])
    cursor = listed(provider, contract_id, limit=2).next_cursor
    assert cursor
    for bad in ("not-a-cursor", "%%%", cursor[:-3], "W10"):
        with pytest.raises(ListingError):
            listed(provider, contract_id, after=bad)
    with pytest.raises(ListingError):  # a cursor of the email order used for names
        listed(provider, contract_id, after=cursor, sort=UserSort.NAME)
    forged = base64.urlsafe_b64encode(json.dumps(["email", False, 5, "x"]).encode()).decode()
    with pytest.raises(ListingError):
        listed(provider, contract_id, after=forged)
    with pytest.raises(ListingError):
        listed(provider, contract_id, limit=0)
    with pytest.raises(ListingError):
        listed(provider, contract_id, limit=201)


def test_X9_statements_per_page_do_not_grow_with_the_page_size(provider):
    contract_id = provider.new_contract()
    people(provider, contract_id, [f"人 {i}" for i in range(60)])
    counts = []
    with provider.app.app_context():
        engine = provider.db().engine
        this_thread = threading.get_ident()
        for limit in (5, 50):
            statements = []

            def count(*_args, _seen=statements, _thread=this_thread, **_kwargs):
                # This thread's statements only: the audit sealer runs on its own thread.
                if threading.get_ident() == _thread:
                    _seen.append(1)

            event.listen(engine, "before_cursor_execute", count)
            try:
                list_users(UserListQuery(contract_id=contract_id, search="人", limit=limit))
            finally:
                event.remove(engine, "before_cursor_execute", count)
            counts.append(len(statements))
    assert counts == [2, 2]


def test_X9_the_search_index_follows_name_and_email_changes(provider):
    """The bigram index is kept by the model itself: a renamed user is found by the new name
    and no longer by the old one; an address changed likewise; a deleted user is gone."""
    contract_id = provider.new_contract()
    (user_id, _email, _name), *_ = people(provider, contract_id, ["旧姓 花子", "他人 太郎"])
    with provider.app.app_context():
        session = provider.db().session
        user = session.get(User, user_id)
        user.name = "新姓 花子"
        user.email, user.email_key = "hanako.new@example.jp", "hanako.new@example.jp"
        session.commit()
    assert names_of(listed(provider, contract_id, search="旧姓")) == []
    assert names_of(listed(provider, contract_id, search="新姓")) == ["新姓 花子"]
    assert names_of(listed(provider, contract_id, search="hanako.new")) == ["新姓 花子"]
    with provider.app.app_context():
        session = provider.db().session
        session.delete(session.get(User, user_id))
        session.commit()
    assert names_of(listed(provider, contract_id, search="花子")) == []
