"""Issue 13, "Several nodes": the Redis store also runs against Redis Sentinel and Redis
Cluster, started here (tests/redis_ha.py), so that growing past one Redis is configuration
(``IDP_REDIS_URL``), not code.

What a relying party, a person or an operator observes: the URL alone picks one server, a
Sentinel-watched master or a cluster; a sign-in with 2FA, SSO and the attempt counters works
on a cluster, with the keys of one transaction, code and session in one hash slot; when the
master dies, the sentinels promote the replica and the store carries on with everything it
had acknowledged; and an unreachable Redis is one clean error (a 503 upstream), never a wrong
answer. The store contract itself runs on Sentinel and Cluster in tests/test_store.py."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import redis
from werkzeug.serving import make_server

from idp.config import ConfigError
from idp.factory import create_app
from idp.store.base import StoreUnavailable
from idp.store.redis import RedisStore
from idp.store.redis import RedisUnavailable
from idp.store.redis_url import RedisTarget
from idp.store.redis_url import parse_redis_url
from tests.conftest import PASSWORD
from tests.conftest import build_provider
from tests.helpers import Browser
from tests.helpers import redirect_params
from tests.realservices import free_port
from tests.redis_ha import ClusterSetup
from tests.redis_ha import SentinelSetup
from tests.redis_ha import wait_for
from tests.test_two_factor import last_sms_code
from tests.test_two_factor import new_phone
from tests.test_two_factor import two_factor_user

pytestmark = pytest.mark.xdist_group("redis_ha")


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("redis://h:6379/2", RedisTarget("server", url="redis://h:6379/2")),
        ("rediss://:pw@h:6380/0", RedisTarget("server", url="rediss://:pw@h:6380/0")),
        (
            "redis+sentinel://s1:26379,s2:26380,[::1]:26381/idp-master/3",
            RedisTarget(
                "sentinel",
                nodes=(("s1", 26379), ("s2", 26380), ("::1", 26381)),
                service="idp-master",
                db=3,
            ),
        ),
        (
            "redis+sentinel://app:p%40ss@s1:26379/idp?socket_timeout=0.5",
            RedisTarget(
                "sentinel",
                nodes=(("s1", 26379),),
                service="idp",
                username="app",
                password="p@ss",
                options={"socket_timeout": 0.5},
            ),
        ),
        (
            "redis+cluster://:secret@c1:7000,c2:7001",
            RedisTarget("cluster", nodes=(("c1", 7000), ("c2", 7001)), password="secret"),
        ),
        ("redis+cluster://c1:7000/", RedisTarget("cluster", nodes=(("c1", 7000),))),
    ],
)
def test_the_url_alone_names_a_server_a_sentinel_master_or_a_cluster(url, target):
    assert parse_redis_url(url) == target


@pytest.mark.parametrize(
    "url",
    [
        "http://:hunter2@h:6379",
        "redis+sentinel://:hunter2@s1:26379",  # no service name
        "redis+sentinel://:hunter2@s1:26379/idp/zero",
        "redis+sentinel://:hunter2@s1/idp",  # no port
        "redis+cluster://:hunter2@c1:7000/1",  # a cluster has database 0 only
        "redis+cluster://:hunter2@c1:7000?retries=9",
        "redis+cluster://:hunter2@c1:7000?socket_timeout=soon",
    ],
)
def test_a_malformed_redis_url_stops_startup_and_never_shows_its_password(url, tmp_path):
    with pytest.raises(ConfigError, match="IDP_REDIS_URL") as refused:
        create_app(
            {"redis_url": url, "dev": True, "instance_dir": str(tmp_path)},
            views=False,
        )
    assert "hunter2" not in str(refused.value)


# -- Redis Cluster -----------------------------------------------------------------------------


class KeyEvents:
    """Every key written on the cluster's nodes, as Redis itself reports it (keyspace
    notifications): what the provider really stored, not what a test thinks it stores."""

    def __init__(self, cluster: Any) -> None:
        self._clients = [node.client() for node in cluster.nodes]
        self._subscriptions = []
        for client in self._clients:
            client.config_set("notify-keyspace-events", "E$g")  # string and generic events
            subscription = client.pubsub()
            subscription.psubscribe("__keyevent@0__:*")
            self._subscriptions.append(subscription)

    def keys(self, prefix: str) -> set[str]:
        seen: set[str] = set()
        for subscription in self._subscriptions:
            while (message := subscription.get_message(timeout=0.2)) is not None:
                if message["type"] == "pmessage" and message["data"].startswith(prefix):
                    seen.add(message["data"])
        return seen

    def close(self) -> None:
        for subscription, client in zip(self._subscriptions, self._clients, strict=True):
            subscription.close()
            client.config_set("notify-keyspace-events", "")
            client.close()


@pytest.fixture()
def cluster_node(redis_cluster, smtp_sink, tmp_path) -> Iterator[Any]:
    """A provider (SQLite database) whose ephemeral store is the Redis Cluster, configured by
    its URL only; a per-address limit of 3 wrong passwords an hour. It trusts one proxy, so a
    browser may come from an address of its own (X-Forwarded-For)."""
    provider = build_provider(
        "sqlite+sqlstore",
        tmp_path,
        {"smtp": smtp_sink},
        redis_url=redis_cluster.url(),
        trusted_proxies=1,
        login_failures_per_ip=3,
        login_failures_per_ip_window=3600,
    )
    server = make_server("127.0.0.1", provider.app.config["TEST_PORT"], provider.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield provider
    server.shutdown()
    provider.close()


def slots(cluster: Any, names: set[str]) -> set[int]:
    with cluster.nodes[0].client() as client:
        return {int(client.cluster("keyslot", name)) for name in names}


@pytest.mark.covers("O1", "K1", "L4")
def test_O1_K1_a_sign_in_with_2fa_sso_and_counters_runs_on_a_redis_cluster_one_slot_per_subject(
    cluster_node, redis_cluster
):
    store = cluster_node.app.extensions["idp.store"]
    assert isinstance(store, RedisStore) and store._target.kind == "cluster"
    events = KeyEvents(redis_cluster)
    try:
        rp = cluster_node.new_client()
        user_id, email = two_factor_user(cluster_node)
        browser = Browser(cluster_node.url)
        page = browser.get(rp.authorize_url())
        wrong = browser.submit(page, "password-form", email=email, password="Wrong-Pass-123")
        assert wrong.status_code == 401 and 'id="password-form"' in wrong.text
        page = browser.submit(wrong, "password-form", email=email, password=PASSWORD)
        assert "/login/2fa/enroll/sms" in page.url, page.url
        tx_id = parse_qs(urlsplit(page.url).query)["tx"][0]
        phone, to = new_phone()
        page = browser.submit(page, "phone-form", phone=phone)
        page = browser.submit(page, "code-form", code="000000")  # one wrong code is counted
        assert 'id="code-form"' in page.text
        page = browser.submit(page, "code-form", code=last_sms_code(cluster_node, to))
        back = browser.submit(page, "saved-form", saved="yes")
        callback = redirect_params(back)
        assert callback["state"] == rp.state
        tokens = rp.exchange(callback["code"])
        assert tokens["_status"] == 200, tokens
        claims = rp.id_token_claims(tokens["id_token"])
        assert claims["sub"] and claims["amr"] == ["pwd", "sms", "mfa"], claims
        assert rp.userinfo(tokens["access_token"]).json()["email"] == email

        # SSO: the next authorization needs no sign-in; its session lives on the cluster.
        again = redirect_params(browser.get(rp.authorize_url()))
        second = rp.exchange(again["code"])
        assert rp.id_token_claims(second["id_token"])["sid"] == claims["sid"]

        # The per-address counter: one failure so far (the right password handed its
        # attempt back); two more wrong passwords reach 3, the next is refused with 429.
        for _ in range(2):
            other = Browser(cluster_node.url)
            page = other.get(rp.authorize_url(prompt="login"))
            refused = other.submit(page, "password-form", email=email, password="Wrong-Pass-1")
            assert refused.status_code == 401
        page = other.get(rp.authorize_url(prompt="login"))
        limited = other.submit(page, "password-form", email=email, password=PASSWORD)
        assert limited.status_code == 429
        assert 3000 < int(limited.headers["Retry-After"]) <= 3600

        written = events.keys("idp:")
    finally:
        events.close()

    # Keys that must live together do: every key naming the transaction (its record, SMS
    # code and attempt counter), the authorization code (its tombstone is its own key), the
    # session's sid (index and touch mark) or the user is in one hash slot per subject.
    code_digests = {k.removeprefix("idp:code:").strip("{}") for k in written if "idp:code:" in k}
    groups = {
        "transaction": {k for k in written if tx_id in k},
        "code": {k for k in written for digest in code_digests if digest in k},
        "sid": {k for k in written if claims["sid"] in k},
        "user": {k for k in written if user_id in k},
    }
    kinds = {name: {k.split(":")[1] for k in keys} for name, keys in groups.items()}
    assert {"tx", "sms-code", "sms-attempts"} <= kinds["transaction"], written
    assert {"code"} <= kinds["code"], written
    assert {"sso-sid", "sso-touch"} <= kinds["sid"], written
    assert {"sms-sends-user", "2fa-failures"} <= kinds["user"], written
    assert len(code_digests) == 2  # the two sign-ins' codes
    for digest in code_digests:
        assert len(slots(redis_cluster, {k for k in written if digest in k})) == 1, digest
    for name in ("transaction", "sid", "user"):
        assert len(slots(redis_cluster, groups[name])) == 1, groups[name]
    # ... while the provider's keys as a whole spread over the cluster.
    assert len(slots(redis_cluster, written)) > 4


@pytest.mark.covers("K1")
def test_K1_each_ipv6_64_counts_in_a_slot_of_its_own_and_still_reaches_429(
    cluster_node, redis_cluster
):
    """Two /64s of one /16 (one /32 even): each its own counter and its own hash slot -- the
    tag is the whole /64, not ``2001`` shared by every IPv6 client of the /16 (a hot slot)."""
    rp = cluster_node.new_client()
    first, second = "2001:db8:a:1", "2001:db8:b:2"

    def attempt(address: str, password: str = "Wrong-Pass-123") -> Any:
        browser = Browser(cluster_node.url)
        browser.session.headers["X-Forwarded-For"] = address
        page = browser.get(rp.authorize_url(prompt="login"))
        return browser.submit(page, "password-form", email="v6@example.jp", password=password)

    events = KeyEvents(redis_cluster)
    try:
        for host in range(1, 4):  # three hosts of the first /64 use up its limit of 3
            assert attempt(f"{first}::{host}").status_code == 401
        assert attempt(f"{second}::1").status_code == 401  # the other /64 counts apart
        limited = attempt(f"{first}::ffff")  # a fourth host of the first /64
        assert limited.status_code == 429
        assert 3000 < int(limited.headers["Retry-After"]) <= 3600
        assert attempt(f"{second}::2").status_code == 401
        written = events.keys("idp:fail-ip:")
    finally:
        events.close()

    assert len(written) == 2, written  # one counter per /64
    assert len(slots(redis_cluster, written)) == 2, written  # in two slots
    assert slots(redis_cluster, written) == {  # each the slot of its whole /64
        *slots(redis_cluster, {f"{first}::/64"}),
        *slots(redis_cluster, {f"{second}::/64"}),
    }
    assert written == {f"idp:fail-ip:{{{first}::/64}}", f"idp:fail-ip:{{{second}::/64}}"}


def test_keys_of_different_subjects_spread_over_every_node_of_the_cluster(redis_cluster):
    store = RedisStore(redis_cluster.url(), prefix=f"s{uuid.uuid4().hex[:6]}:")
    try:
        for n in range(30):
            store.set(f"tx:{uuid.uuid4().hex}", str(n), 60)
        holding = [node.client().dbsize() for node in redis_cluster.nodes]
        assert all(count > 0 for count in holding), holding
    finally:
        store.close()


# -- outages -----------------------------------------------------------------------------------


def every_operation(store: RedisStore) -> dict[str, Any]:
    return {
        "set": lambda: store.set("tx:a", "v", 60),
        "get": lambda: store.get("tx:a"),
        "pop": lambda: store.pop("tx:a"),
        "add": lambda: store.add("tx:a", "v", 60),
        "incr": lambda: store.incr("fail-ip:a", 60),
        "decr": lambda: store.decr("fail-ip:a"),
        "count": lambda: store.count("fail-ip:a"),
        "ttl": lambda: store.ttl("tx:a"),
        "delete": lambda: store.delete("tx:a"),
        "ping": store.ping,
    }


@pytest.mark.parametrize(
    ("url", "operations"),
    [
        ("redis://127.0.0.1:{0}/0", ("get", "incr")),
        ("redis+sentinel://127.0.0.1:{0},127.0.0.1:{1}/idp-master/0", ("get", "incr")),
        ("redis+cluster://127.0.0.1:{0},127.0.0.1:{1}", "all"),
    ],
    ids=["server", "sentinel", "cluster"],
)
def test_an_unreachable_redis_is_one_clean_error_on_every_operation_and_soon(url, operations):
    """Nothing listens: every operation raises the store's unavailability error (a redis
    ConnectionError too, which the 503 handler recognises) within about a second, so that a
    request answers "try again later" instead of holding a worker. A cluster's node starts
    anyway (its client connects on first use). (One wrapper serves every operation in every
    mode; the ~0.7 s of retries per call keeps the list short for one server and Sentinel.)"""
    store = RedisStore(url.format(free_port(), free_port()))
    try:
        calls = every_operation(store)
        for name in calls if operations == "all" else operations:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable) as raised:
                calls[name]()
            assert isinstance(raised.value, redis.exceptions.ConnectionError), name
            assert time.monotonic() - started < 3, name
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["sentinel", "cluster"])
def test_the_urls_password_opens_the_data_nodes_and_a_wrong_one_is_unavailability(kind, request):
    """The data nodes require a password (tests/redis_ha.py): the store contract passes with
    the one in the URL; a wrong one is the store's unavailability error (503, /readyz says
    so), whose message does not repeat it."""
    setup = request.getfixturevalue(f"redis_{kind}")
    right = setup.url(1) if kind == "sentinel" else setup.url()
    store = RedisStore(right)
    wrong = RedisStore(right.replace(setup.password, "not-the-password"))
    try:
        store.set("tx:pw", "v", 60)
        assert store.get("tx:pw") == "v"
        with pytest.raises(RedisUnavailable) as refused:
            wrong.get("tx:pw")
        assert "not-the-password" not in str(refused.value)
    finally:
        store.close()
        wrong.close()


def test_a_redis_that_refuses_writes_is_unavailability_never_a_value_error(redis_sentinel):
    """A replica (an old master after a failover) answers READONLY, a master with fewer
    replicas than ``min-replicas-to-write`` answers NOREPLICAS: the store is unavailable (503
    upstream). Counting there must not read as "this key does not hold an integer"
    (ValueError), which a caller would take for data."""
    replica = RedisStore(
        f"redis://:{redis_sentinel.password}@127.0.0.1:{redis_sentinel.replica.port}/5"
    )
    master = RedisStore(redis_sentinel.url(5))
    with redis_sentinel.master.client() as raw:
        raw.config_set("min-replicas-to-write", "2")  # it has one
        try:
            for store in (replica, master):
                assert store.get("tx:a") is None  # reads still answer
                for name in ("set", "add", "incr", "pop"):  # (decr of nothing writes nothing)
                    with pytest.raises(RedisUnavailable):
                        every_operation(store)[name]()
        finally:
            raw.config_set("min-replicas-to-write", "0")
            replica.close()
            master.close()


# -- Sentinel failover -------------------------------------------------------------------------


@pytest.fixture()
def sentinel() -> Iterator[SentinelSetup]:
    """A Sentinel setup of this test's own: the test kills its master."""
    setup = SentinelSetup().start()
    try:
        yield setup
    finally:
        setup.stop()


@pytest.mark.covers("K1", "X7")
def test_K1_X7_when_the_master_dies_sentinels_promote_the_replica_and_the_store_carries_on(
    sentinel,
):
    store = RedisStore(sentinel.url(0))
    try:
        store.set("sso-ended:u1", "1700000000.5", 600)  # X7: signed out everywhere
        assert store.add("totp-used:f1:42", "1", 600) is True
        for _ in range(3):
            store.incr("fail-ip:10.0.0.1", 600)  # K1: wrong passwords from one address
        with sentinel.master.client() as master:
            assert master.wait(1, 5000) == 1  # acknowledged by the replica too
        old_master = sentinel.master_port()
        sentinel.master.kill()  # a crash: no shutdown, no last sync

        # Until the replica is promoted, each operation either answers right or raises the
        # store's unavailability error; none answers wrong.
        answered: list[str] = []
        deadline = time.monotonic() + 30
        n = 0
        while answered[-3:] != ["ok"] * 3:
            assert time.monotonic() < deadline, answered
            n += 1
            try:
                store.set(f"during:{n}", str(n), 600)
                assert store.get(f"during:{n}") == str(n)
                answered.append("ok")
            except StoreUnavailable as error:
                assert isinstance(error, redis.exceptions.ConnectionError)
                answered.append("unavailable")
        wait_for(
            lambda: sentinel.master_port() == sentinel.replica.port,
            10,
            "the sentinels did not name the replica as the master",
        )
        assert sentinel.master_port() != old_master

        # Everything acknowledged before the crash is there, and counts on from where it was.
        assert store.get("sso-ended:u1") == "1700000000.5"
        assert store.add("totp-used:f1:42", "1", 600) is False  # a used code stays used
        assert store.incr("fail-ip:10.0.0.1", 600) == 4
        assert 0 < store.ttl("fail-ip:10.0.0.1") <= 600
        with sentinel.replica.client() as promoted:
            assert promoted.info("replication")["role"] == "master"
    finally:
        store.close()


# -- a lost cluster node -----------------------------------------------------------------------


@pytest.fixture()
def cluster() -> Iterator[ClusterSetup]:
    """A cluster of this test's own: the test kills one of its masters."""
    setup = ClusterSetup().start()
    try:
        yield setup
    finally:
        setup.stop()


def test_a_lost_cluster_master_makes_its_keys_unavailable_never_wrong(cluster):
    """Without replicas, a master's slots go with it: reading a key it held is the store's
    unavailability error (503 upstream); every other key answers its own value, or the same
    error once the cluster declares itself down -- never another key's value, never None for
    a key that exists."""
    store = RedisStore(cluster.url())
    try:
        keys = [f"tx:{uuid.uuid4().hex}" for _ in range(24)]
        for key in keys:
            store.set(key, key, 600)
        victim = cluster.nodes[1]
        with victim.client() as raw:
            held = {
                name.removeprefix("idp:").replace("{", "").replace("}", "") for name in raw.keys()
            }
        assert held and len(held) < len(keys)
        victim.kill()
        for key in keys:
            try:
                value = store.get(key)
            except StoreUnavailable:
                continue
            assert key not in held and value == key, key
        for key in held:
            with pytest.raises(StoreUnavailable):
                store.get(key)
    finally:
        store.close()
