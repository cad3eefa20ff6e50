"""L8 by a direct LDAP bind (UPSTREAMS.md, "Direct LDAP bind to Active Directory"): the broker
against a private slapd (tests/slapd.py) over LDAPS and StartTLS, and AD's bind messages,
which slapd cannot produce, as recorded strings."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyasn1.codec.ber import encoder

from brokers.ad_errors import AD_BIND_ERRORS
from brokers.ad_errors import PPOLICY_ERRORS
from brokers.ad_errors import PPOLICY_RESPONSE
from brokers.ad_errors import parse_ad_bind_error
from brokers.ad_errors import parse_ppolicy_error
from brokers.base import REASONS as BASE_REASONS
from brokers.base import BrokerError
from brokers.ldap import REASONS
from brokers.ldap import LdapDirectory
from tests.realservices import LOCALHOST
from tests.realservices import free_port

# Not imported: a plugin module imported before registration cannot be assertion-rewritten.

pytestmark = [
    pytest.mark.covers("L8"),
    # ldap3 2.9.1 checks the certificate's host name with ssl.match_hostname(), deprecated
    # since Python 3.7 and warning since 3.10 (removed in 3.12, where ldap3 uses its own copy).
    pytest.mark.filterwarnings(r"ignore:ssl.match_hostname\(\) is deprecated:DeprecationWarning"),
]


def directory(slapd: Any, **overrides: object) -> LdapDirectory:
    settings: dict[str, object] = {
        "url": slapd.url_ldaps,
        "base_dn": slapd.base_dn,
        "bind_dn": slapd.service_dn,
        "bind_password": slapd.service_password,
        "ca_certs_file": str(slapd.ca_file),
    }
    settings.update(overrides)
    return LdapDirectory(**settings)  # type: ignore[arg-type]


def reason_of(directory: LdapDirectory, login: str, password: str) -> str:
    with pytest.raises(BrokerError) as caught:
        directory.authenticate(login, password)
    return caught.value.reason


@pytest.fixture()
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP port that accepts connections and never answers (the far side of a network)."""
    listener = socket.create_server((LOCALHOST, 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


# -- sign-in against slapd -------------------------------------------------------------------


def test_L8_ldaps_bind_gives_the_entry_uuid_as_subject(slapd):
    alice = slapd.users["alice"]
    identity = directory(slapd).authenticate(alice.upn, alice.password)
    assert identity.provider == "ad"
    assert identity.issuer == f"{slapd.url_ldaps}/{slapd.base_dn}"
    assert identity.subject == slapd.read_attribute(alice.dn, "entryUUID")
    assert identity.email == alice.mail
    assert identity.email_verified is False
    assert identity.display_name == "鈴木 アリス"
    assert identity.upstream_amr == ()


def test_L8_starttls_bind(slapd):
    alice = slapd.users["alice"]
    identity = directory(slapd, url=slapd.url_ldap, start_tls=True).authenticate(
        alice.login, alice.password
    )
    assert identity.subject == slapd.read_attribute(alice.dn, "entryUUID")
    assert identity.issuer == f"{slapd.url_ldap}/{slapd.base_dn}"


def test_L8_ca_given_as_pem_data(slapd):
    alice = slapd.users["alice"]
    ldap = directory(slapd, ca_certs_file=None, ca_certs_data=slapd.ca_file.read_text())
    assert ldap.authenticate(alice.login, alice.password).email == alice.mail


def test_L8_upn_sam_account_name_and_mail_find_the_same_subject(slapd):
    alice = slapd.users["alice"]
    ldap = directory(slapd)
    subjects = {ldap.authenticate(login, alice.password).subject for login in
                (alice.upn, alice.login, alice.mail, alice.upn.upper())}  # fmt: skip
    assert len(subjects) == 1


def test_L8_object_guid_is_the_subject_when_present(slapd):
    grace = slapd.users["grace"]
    identity = directory(slapd).authenticate(grace.login, grace.password)
    assert identity.subject == str(grace.object_guid)


def test_L8_issuer_can_be_pinned(slapd):
    alice = slapd.users["alice"]
    ldap = directory(slapd, issuer="ad:example.co.jp")
    assert ldap.authenticate(alice.login, alice.password).issuer == "ad:example.co.jp"


def test_L8_wrong_password_and_unknown_user_answer_alike(slapd):
    ldap = directory(slapd)
    assert reason_of(ldap, "henry", "not-his-password") == "invalid_credentials"
    assert reason_of(ldap, "nobody", "not-his-password") == "invalid_credentials"
    assert reason_of(ldap, "nobody@example.co.jp", "x") == "invalid_credentials"


def test_L8_a_login_matching_two_users_is_refused(slapd):
    dave = slapd.users["dave"]
    assert reason_of(directory(slapd), dave.mail, dave.password) == "invalid_credentials"
    assert directory(slapd).authenticate(dave.login, dave.password).email == dave.mail


@pytest.mark.parametrize("right_password", [True, False])
def test_L8_disabled_account_is_refused_before_its_bind(slapd, right_password):
    bob = slapd.users["bob"]
    password = bob.password if right_password else "not-his-password"
    assert reason_of(directory(slapd), bob.login, password) == "account_disabled"


def test_L8_ppolicy_lockout_refuses_the_right_password(slapd):
    carol = slapd.users["carol"]
    ldap = directory(slapd)
    for _ in range(slapd.max_failure):
        assert reason_of(ldap, carol.login, "not-her-password") == "invalid_credentials"
    assert reason_of(ldap, carol.login, carol.password) == "account_locked"


@pytest.mark.parametrize(("login", "password"), [("alice", ""), ("", "x")])
def test_L8_empty_password_is_refused_without_touching_the_server(silent_server, login, password):
    port, accepted = silent_server
    ldap = LdapDirectory(
        url=f"ldaps://{LOCALHOST}:{port}", base_dn="dc=x", bind_dn="cn=svc,dc=x", bind_password="p"
    )
    error = pytest.raises(BrokerError, ldap.authenticate, login, password).value
    assert error.reason == "invalid_credentials"
    assert accepted == []


@pytest.mark.parametrize(
    "login",
    [
        "alice*",
        "*",
        "a*e",
        "*)(uid=*",
        "alice)(|(uid=*",
        "*)(objectClass=*))(|(uid=*",
        "EXAMPLE\\alice",
    ],
)
def test_L8_filter_characters_in_the_login_are_escaped(slapd, login):
    """Unescaped, ``alice*`` and ``a*e`` would match alice alone and sign in with her password."""
    assert reason_of(directory(slapd), login, slapd.users["alice"].password) == (
        "invalid_credentials"
    )


def test_L8_user_filter_narrows_who_may_sign_in(slapd):
    ldap = directory(slapd, user_filter="(uid=alice)")
    alice, henry = slapd.users["alice"], slapd.users["henry"]
    assert ldap.authenticate(alice.login, alice.password).email == alice.mail
    assert reason_of(ldap, henry.login, henry.password) == "invalid_credentials"


@pytest.mark.parametrize("start_tls", [False, True])
def test_L8_certificate_from_another_ca_is_refused(slapd, start_tls):
    url = slapd.url_ldap if start_tls else slapd.url_ldaps
    ldap = directory(
        slapd, url=url, start_tls=start_tls, ca_certs_file=str(slapd.untrusted_ca_file)
    )
    alice = slapd.users["alice"]
    with pytest.raises(BrokerError) as caught:
        ldap.authenticate(alice.login, alice.password)
    assert caught.value.reason == "directory_error"
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.detail


def test_L8_wrong_service_account_password_is_a_directory_error(slapd):
    alice = slapd.users["alice"]
    ldap = directory(slapd, bind_password="not-the-service-password")
    assert reason_of(ldap, alice.login, alice.password) == "directory_error"


def test_L8_server_down_is_unreachable():
    ldap = LdapDirectory(
        url=f"ldaps://{LOCALHOST}:{free_port()}",
        base_dn="dc=x",
        bind_dn="cn=svc,dc=x",
        bind_password="p",
        timeout=2,
    )
    assert reason_of(ldap, "alice", "x") == "unreachable"


def test_L8_server_that_never_answers_times_out(silent_server):
    port, _ = silent_server
    ldap = LdapDirectory(
        url=f"ldaps://{LOCALHOST}:{port}",
        base_dn="dc=x",
        bind_dn="cn=svc,dc=x",
        bind_password="p",
        timeout=0.5,
    )
    assert reason_of(ldap, "alice", "x") == "timeout"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"url": "ldap://dc1.example.co.jp"}, "clear text"),
        ({"url": "ldap://dc1.example.co.jp:389", "start_tls": False}, "clear text"),
        ({"url": "ldaps://dc1.example.co.jp", "start_tls": True}, "already TLS"),
        ({"url": "https://dc1.example.co.jp"}, "not an ldap"),
        ({"url": "ldaps://"}, "not an ldap"),
        ({"bind_password": ""}, "required"),
        ({"user_filter": "memberOf=cn=x"}, "parenthesised"),
        ({"timeout": 0}, "positive"),
        ({"ca_certs_file": "/nonexistent/ca.pem"}, "unusable CA"),
        ({"ca_certs_data": "-----BEGIN CERTIFICATE-----\nnot PEM\n"}, "unusable CA"),
    ],
)
def test_L8_unsafe_or_broken_configuration_is_refused_at_construction(settings, message):
    base = {
        "url": "ldaps://dc1.example.co.jp",
        "base_dn": "dc=example,dc=co,dc=jp",
        "bind_dn": "cn=svc,dc=example,dc=co,dc=jp",
        "bind_password": "p",
    }
    with pytest.raises(ValueError, match=message):
        LdapDirectory(**{**base, **settings})  # type: ignore[arg-type]


def test_L8_default_ports_make_the_issuer():
    ldap = LdapDirectory(
        url="LDAPS://DC1.Example.co.jp", base_dn="dc=example,dc=co,dc=jp", bind_dn="cn=s",
        bind_password="p",
    )  # fmt: skip
    assert ldap.issuer == "ldaps://dc1.example.co.jp:636/dc=example,dc=co,dc=jp"


def test_L8_reasons_are_listed():
    assert set(AD_BIND_ERRORS.values()) | set(PPOLICY_ERRORS.values()) <= set(REASONS)
    assert {"timeout", "unreachable", "no_subject"} <= set(BASE_REASONS) & set(REASONS)


# -- AD's bind messages (recorded; slapd cannot produce them) ---------------------------------

#: diagnosticMessage of result 49 as Windows Server 2008 R2 … 2022 send it (with its NUL).
RECORDED_AD_MESSAGES = [
    ("80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 525, v1db1\x00",
     "invalid_credentials"),
    ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563\x00",
     "invalid_credentials"),
    ("80090308: LdapErr: DSID-0C090447, comment: AcceptSecurityContext error, data 530, v3839\x00",
     "logon_hours"),
    ("80090308: LdapErr: DSID-0C09042F, comment: AcceptSecurityContext error, data 531, v2580\x00",
     "workstation"),
    ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 532, v4563\x00",
     "password_expired"),
    ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 533, v4563\x00",
     "account_disabled"),
    ("80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 701, v1db1\x00",
     "account_expired"),
    ("80090308: LdapErr: DSID-0C090447, comment: AcceptSecurityContext error, data 773, v3839\x00",
     "must_change_password"),
    ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 775, v4563\x00",
     "account_locked"),
    ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52f, v4563\x00",
     "invalid_credentials"),  # ERROR_ACCOUNT_RESTRICTION: no specific reason
    ("8009030C: LdapErr: DSID-0C0906B5, comment: AcceptSecurityContext error, data 52e, v4f7c",
     "invalid_credentials"),  # Windows Server 2022, without the NUL
    ("", "invalid_credentials"),  # slapd
    ("Invalid credentials", "invalid_credentials"),
]  # fmt: skip


@pytest.mark.parametrize(("message", "reason"), RECORDED_AD_MESSAGES)
def test_L8_ad_bind_messages(message, reason):
    assert parse_ad_bind_error(message) == reason


@given(
    dsid=st.text("0123456789ABCDEF", min_size=8, max_size=8),
    version=st.text("0123456789abcdef", min_size=1, max_size=4),
    code=st.sampled_from(sorted(AD_BIND_ERRORS)),
    upper=st.booleans(),
)
def test_L8_ad_data_code_decides_whatever_the_dsid(dsid, version, code, upper):
    data = code.upper() if upper else code
    message = (
        f"80090308: LdapErr: DSID-{dsid}, comment: AcceptSecurityContext error, "
        f"data {data}, v{version}\x00"
    )
    assert parse_ad_bind_error(message) == AD_BIND_ERRORS[code]


@given(st.text())
def test_L8_other_bind_messages_are_invalid_credentials(message):
    if "AcceptSecurityContext" not in message:
        assert parse_ad_bind_error(message) == "invalid_credentials"


# -- slapd's password policy response control -------------------------------------------------


def encode_ppolicy(error: int | None, warning: tuple[str, int] | None) -> bytes:
    value = PPOLICY_RESPONSE.clone()
    if warning is not None:
        value.setComponentByName("warning")
        value["warning"][warning[0]] = warning[1]
    if error is not None:
        value["error"] = error
    encoded: bytes = encoder.encode(value)
    return encoded


@given(
    error=st.none() | st.integers(0, 8),
    warning=st.none()
    | st.tuples(
        st.sampled_from(["timeBeforeExpiration", "graceAuthNsRemaining"]), st.integers(0, 2**31 - 1)
    ),
)
def test_L8_ppolicy_response_round_trip(error, warning):
    expected = PPOLICY_ERRORS.get(error) if error is not None else None
    assert parse_ppolicy_error(encode_ppolicy(error, warning)) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (bytes.fromhex("3003810101"), "account_locked"),  # what slapd sent for carol
        (bytes.fromhex("3003810100"), "password_expired"),
        (bytes.fromhex("3003810102"), "must_change_password"),
        (bytes.fromhex("3000"), None),
        (bytes.fromhex("3005a003810101"), None),  # a grace-login warning only
        (b"", None),
        (b"\x30\x03\x81\x01", None),  # truncated
    ],
)
def test_L8_ppolicy_response_values(value, reason):
    assert parse_ppolicy_error(value) == reason


@given(st.binary(max_size=24))
def test_L8_ppolicy_parser_never_raises(value):
    assert parse_ppolicy_error(value) in {None, *PPOLICY_ERRORS.values()}
