"""Password hashing (DESIGN.md Cost): argon2id at OWASP parameters by default."""

from __future__ import annotations

from argon2 import extract_parameters

from idp.config import Settings
from idp.users.passwords import PasswordHashing
from idp.users.passwords import password_problems


def test_defaults_are_owasp_argon2id():
    settings = Settings()
    hashing = PasswordHashing(
        settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism
    )
    encoded = hashing.hash("Correct-Horse-9")
    params = extract_parameters(encoded)
    assert encoded.startswith("$argon2id$")
    assert params.memory_cost >= 19456 and params.time_cost >= 2 and params.parallelism == 1
    assert hashing.verify(encoded, "Correct-Horse-9")
    assert not hashing.verify(encoded, "Correct-Horse-8")
    assert not hashing.verify(None, "anything")
    assert not hashing.verify("not-a-hash", "anything")


def test_P2_common_passwords_are_refused():
    assert "common" in password_problems("Password1")
    assert "common" in password_problems("Qwerty123")
    assert password_problems("Tsuki-no-Usagi-42") == []


def test_rehash_when_parameters_rise():
    weak = PasswordHashing(1024, 1, 1)
    strong = PasswordHashing(2048, 2, 1)
    encoded = weak.hash("Correct-Horse-9")
    assert strong.needs_rehash(encoded)
    assert strong.verify(encoded, "Correct-Horse-9")
