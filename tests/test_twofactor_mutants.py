"""Edges of the second-factor building blocks that mutation testing (``make mutation``) found
unasserted by the HTTP tests of tests/test_two_factor.py: the TOTP window to the step, a
replay refused for the whole time its code is accepted, recovery codes as copied and their
length limit, which phone numbers take SMS, and the secret box's keys.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC
from datetime import datetime

import pyotp
import pytest
import time_machine
from cryptography.fernet import Fernet
from sqlalchemy import create_engine

from idp.models import db
from idp.store.sql import SqlStore
from idp.twofactor import recovery
from idp.twofactor import totp
from idp.twofactor.phone import mask_phone
from idp.twofactor.phone import normalise_phone
from idp.twofactor.secrets_box import SecretBox

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
#: A moment on a step boundary: step ``STEP`` starts here.
STEP = 59_000_000
START = STEP * totp.PERIOD


def code_of(step: int) -> str:
    return pyotp.TOTP(SECRET, interval=totp.PERIOD).at(step * totp.PERIOD)


@pytest.mark.covers("L5")
@pytest.mark.parametrize(
    ("code_step", "now", "accepted"),
    [
        (STEP, START, True),
        (STEP, START + 29, True),
        # RFC 6238 §5.2: one step of drift either way (up to 60 s of skew), not two.
        (STEP - 1, START, True),
        (STEP + 1, START + 29, True),
        (STEP - 1, START + 30, False),
        (STEP + 1, START - 1, False),
        (STEP - 2, START, False),
        (STEP + 2, START, False),
    ],
)
def test_L5_totp_accepts_one_step_of_drift_either_way(code_step, now, accepted):
    step = totp.matching_step(SECRET, code_of(code_step), now=now)
    assert step == (code_step if accepted else None)


@pytest.mark.covers("L5")
def test_L5_totp_code_as_typed():
    code = code_of(STEP)
    assert totp.matching_step(SECRET, f" {code[:3]} {code[3:]}\n", now=START) == STEP
    assert totp.matching_step(SECRET, code[:5], now=START) is None
    assert totp.matching_step(SECRET, code + "0", now=START) is None
    assert totp.matching_step(SECRET, "abcdef", now=START) is None


@pytest.mark.covers("L5")
def test_L5_totp_uri_names_the_service_and_the_account():
    uri = totp.provisioning_uri(SECRET, "taro@example.jp")
    assert uri.startswith("otpauth://totp/WORKSDRIVE:taro%40example.jp?")
    assert f"secret={SECRET}" in uri and "issuer=WORKSDRIVE" in uri
    assert pyotp.parse_uri(uri).interval == 30
    assert totp.qr_svg_data_uri(uri).startswith("data:image/svg+xml")
    assert len(totp.new_secret()) == 32 and totp.new_secret() != totp.new_secret()


@pytest.fixture()
def store(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    db.metadata.create_all(engine)
    yield SqlStore(engine)
    engine.dispose()


@pytest.mark.covers("L5", "L6")
def test_L6_totp_code_replay_refused_for_as_long_as_the_code_is_accepted(store):
    """A code of step s is accepted from the start of step s-1 to the end of step s+1; a
    replay at the last second of that window is still refused."""
    first_moment = (STEP - 1) * totp.PERIOD
    last_moment = (STEP + 2) * totp.PERIOD - 1
    with time_machine.travel(datetime.fromtimestamp(first_moment, UTC), tick=False) as clock:
        assert totp.matching_step(SECRET, code_of(STEP)) == STEP
        assert totp.claim_step(store, "factor-1", STEP) is True
        assert totp.claim_step(store, "factor-1", STEP) is False
        assert totp.claim_step(store, "factor-2", STEP) is True  # another factor's own code
        clock.move_to(datetime.fromtimestamp(last_moment, UTC))
        assert totp.matching_step(SECRET, code_of(STEP)) == STEP
        assert totp.claim_step(store, "factor-1", STEP) is False


@pytest.mark.covers("L6")
def test_L6_recovery_code_shape_and_sixteen_random_characters():
    codes = [recovery.new_recovery_code() for _ in range(30)]
    group = f"[{recovery.ALPHABET}]{{4}}"
    assert all(re.fullmatch(f"{group}(-{group}){{3}}", code) for code in codes)
    # ≈ 80 bits: every one of the 16 characters is drawn on its own (none fixed, none a copy
    # of another position).
    columns = list(zip(*(recovery.normalise(code) for code in codes), strict=True))
    assert len(columns) == 16
    assert all(len(set(column)) > 1 for column in columns)
    assert len(set(columns)) == 16


@pytest.mark.covers("L6")
def test_L6_codes_stored_before_keep_matching():
    """The stored hash is SHA-256 of the code in upper case without separators: a code saved
    by an earlier version keeps working, and no character of the alphabet is dropped."""
    assert recovery.normalise("wxyz-abcd\u3000efgh jkmn") == "WXYZABCDEFGHJKMN"
    stored = hashlib.sha256(b"WXYZABCDEFGHJKMN").hexdigest()
    assert recovery.hash_recovery_code("WXYZ-ABCD-EFGH-JKMN") == stored
    assert recovery.matches("wxyz abcd efgh jkmn", stored)


@pytest.mark.covers("L6")
@pytest.mark.parametrize(
    "typed",
    [
        "ABCD-EFGH-JKMN-PQRS",
        "abcd efgh jkmn pqrs",
        "ABCDEFGHJKMNPQRS",
        "ABCD\u3000EFGH\tJKMN\r\nPQRS",
        " ABCD-EFGH-JKMN-PQRS" + " " * 80,  # 100 characters as pasted
    ],
)
def test_L6_recovery_code_accepted_as_copied(typed):
    stored = recovery.hash_recovery_code("ABCD-EFGH-JKMN-PQRS")
    assert recovery.matches(typed, stored)


@pytest.mark.covers("L6")
@pytest.mark.parametrize(
    "typed",
    [
        "ABCD-EFGH-JKMN-PQRT",
        "ABCD-EFGH-JKMN-PQR",
        "ABCD_EFGH_JKMN_PQRS",
        " ABCD-EFGH-JKMN-PQRS" + " " * 81,  # 101 characters: refused before hashing
    ],
)
def test_L6_recovery_code_refused(typed):
    stored = recovery.hash_recovery_code("ABCD-EFGH-JKMN-PQRS")
    assert not recovery.matches(typed, stored)


@pytest.mark.covers("L4")
@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("090-1234-5678", "+819012345678"),
        ("+81 80 1234 5678", "+818012345678"),
        ("03-1234-5678", None),  # a fixed line takes no SMS
        ("0120-123-456", None),  # toll-free
        ("090-1234-567", None),
        ("", None),
        ("090-1234-5678" + " " * 27, "+819012345678"),  # 40 characters
        ("090-1234-5678" + " " * 28, None),  # 41
        ("not a number", None),
    ],
)
def test_L4_sms_numbers_are_mobile_numbers(raw, e164):
    assert normalise_phone(raw) == e164


@pytest.mark.covers("L4")
def test_L4_pages_show_only_the_last_four_digits():
    assert mask_phone("+819012345678") == "••••••••5678"
    assert mask_phone("+8190") == "8190"


def test_secret_box_opens_only_its_own_seals():
    box = SecretBox(Fernet.generate_key().decode())
    sealed = box.seal("TOTP-SEED")
    assert sealed != "TOTP-SEED" and box.open(sealed) == "TOTP-SEED"
    with pytest.raises(ValueError, match="IDP_ENCRYPTION_KEY"):
        SecretBox(Fernet.generate_key().decode()).open(sealed)
    dev = SecretBox.for_development("secret-a")
    assert SecretBox.for_development("secret-a").open(dev.seal("x")) == "x"
    with pytest.raises(ValueError):
        SecretBox.for_development("secret-b").open(dev.seal("x"))
