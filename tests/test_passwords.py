"""Password hashing (DESIGN.md Cost): argon2id at OWASP parameters by default."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from argon2 import extract_parameters

from idp import extensions
from idp.cli.servers import serve_hash_concurrency
from idp.config import ConfigError
from idp.config import Settings
from idp.config import load_settings
from idp.factory import create_app
from idp.models import User
from idp.users.passwords import PasswordHashing
from idp.users.passwords import password_problems
from idp.users.passwords import usable_cores
from tests.conftest import PASSWORD
from tests.conftest import TEST_ARGON2
from tests.helpers import Browser

ARGON2 = {
    "memory_kib": TEST_ARGON2["argon2_memory_kib"],
    "time_cost": TEST_ARGON2["argon2_time_cost"],
    "parallelism": TEST_ARGON2["argon2_parallelism"],
}


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


def test_a_sign_in_stores_the_password_hashed_again_at_the_current_parameters(provider, rp, user):
    """A hash made at other parameters (an older configuration) is replaced at the next
    right password, in the sign-in's own transaction (idp/login/identify.py)."""
    user_id, email = user
    older = PasswordHashing(ARGON2["memory_kib"] * 2, ARGON2["time_cost"] + 1, 1)
    with provider.app.app_context():
        provider.db().session.get(User, user_id).password_hash = older.hash(PASSWORD)
        provider.db().session.commit()
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    assert rp.id_token_claims(tokens["id_token"])["sub"] == user_id
    with provider.app.app_context():
        stored = provider.db().session.get(User, user_id).password_hash
        current = extensions.passwords()
    params = extract_parameters(stored)
    assert (params.memory_cost, params.time_cost) == (ARGON2["memory_kib"], ARGON2["time_cost"])
    assert current.verify(stored, PASSWORD) and not current.needs_rehash(stored)
    # And the new hash signs in.
    assert rp.login_tokens(Browser(provider.url), email, PASSWORD)["_status"] == 200


class InsideArgon2:
    """argon2's hasher, observed: how many threads are inside it now and at most; the first
    thread in stays until ``release`` is set, so that a second one has to meet it there."""

    def __init__(self, real: Any, changed: threading.Condition) -> None:
        self.real = real
        self.changed = changed
        self.inside = 0
        self.most = 0
        self.entered = 0
        self.release = threading.Event()

    def verify(self, encoded: str, password: str) -> bool:
        with self.changed:
            self.inside += 1
            self.entered += 1
            self.most = max(self.most, self.inside)
            first = self.entered == 1
            self.changed.notify_all()
        try:
            if first:
                self.release.wait(30)
            result: bool = self.real.verify(encoded, password)
            return result
        finally:
            with self.changed:
                self.inside -= 1
                self.changed.notify_all()


class TurnsObserved:
    """The hashing's semaphore, observed: counts the threads that found no free slot."""

    def __init__(self, real: Any, changed: threading.Condition) -> None:
        self.real = real
        self.changed = changed
        self.waited = 0

    def __enter__(self) -> None:
        if not self.real.acquire(blocking=False):
            with self.changed:
                self.waited += 1
                self.changed.notify_all()
            self.real.acquire()

    def __exit__(self, *exc: object) -> None:
        self.real.release()


def observed(concurrency: int) -> tuple[PasswordHashing, str, InsideArgon2, TurnsObserved, Any]:
    """A hashing with the bound, a hash of ``Correct-Horse-9``, and the observers."""
    hashing = PasswordHashing(**ARGON2, concurrency=concurrency)
    encoded = hashing.hash("Correct-Horse-9")
    changed = threading.Condition()
    # Instrumentation only: both wrappers hand every call to the real objects.
    argon2 = hashing._hasher = InsideArgon2(hashing._hasher, changed)  # type: ignore[assignment]
    turns = hashing._slots = TurnsObserved(hashing._slots, changed)  # type: ignore[assignment]
    return hashing, encoded, argon2, turns, changed


def in_thread(call: Any, results: list[bool]) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.append(call()), daemon=True)
    thread.start()
    return thread


def test_L2_with_a_bound_of_one_a_second_verification_waits_outside_argon2():
    """Issue 13 (IDP_HASH_CONCURRENCY): while one verification runs, a second one of the same
    process waits for its turn before argon2, not inside it. The unknown email's dummy
    verification (L2) takes the same path and the same wait."""
    hashing, encoded, argon2, turns, changed = observed(1)
    results: list[bool] = []
    known = in_thread(lambda: hashing.verify(encoded, "Correct-Horse-9"), results)
    with changed:
        assert changed.wait_for(lambda: argon2.inside == 1, 30)
    unknown = in_thread(lambda: hashing.verify(None, "Correct-Horse-9"), results)
    with changed:
        # Either it found the slot taken (the bound holds) or it got inside (it does not).
        assert changed.wait_for(lambda: turns.waited or argon2.most > 1, 30)
        assert (turns.waited, argon2.most) == (1, 1)
    argon2.release.set()
    known.join(30)
    unknown.join(30)
    assert sorted(results) == [False, True]
    assert argon2.most == 1 and argon2.entered == 2


def test_a_bound_of_two_lets_two_verifications_run_at_once():
    """The bound is the setting's, not always one."""
    hashing, encoded, argon2, turns, changed = observed(2)
    results: list[bool] = []
    first = in_thread(lambda: hashing.verify(encoded, "Correct-Horse-9"), results)
    second = in_thread(lambda: hashing.verify(encoded, "wrong"), results)
    with changed:
        assert changed.wait_for(lambda: argon2.most == 2, 30)
    argon2.release.set()
    first.join(30)
    second.join(30)
    assert sorted(results) == [False, True] and turns.waited == 0


def test_the_bound_comes_from_IDP_HASH_CONCURRENCY_or_the_cores(tmp_path, monkeypatch):
    """The app's hashing takes the setting; unset (0) one per usable core; ``idp serve``
    sets cores / workers, at least 1, so that its workers together hash on about as many
    threads as there are cores."""
    base = {"dev": True, "instance_dir": str(tmp_path), **TEST_ARGON2}
    for setting, expected in ((1, 1), (3, 3), (0, usable_cores())):
        app = create_app({**base, "hash_concurrency": setting})
        with app.app_context():
            assert extensions.passwords().concurrency == expected
    monkeypatch.setenv("IDP_HASH_CONCURRENCY", "2")
    assert load_settings({"dev": True}).hash_concurrency == 2
    monkeypatch.setenv("IDP_HASH_CONCURRENCY", "-1")
    with pytest.raises(ConfigError, match="IDP_HASH_CONCURRENCY"):
        load_settings({"dev": True})
    assert serve_hash_concurrency(workers=2, cores=2) == 1
    assert serve_hash_concurrency(workers=2, cores=8) == 4
    assert serve_hash_concurrency(workers=4, cores=2) == 1
    assert serve_hash_concurrency(workers=1, cores=2) == 2
