"""L8: sign in with the company directory password, by a direct LDAP bind to Active Directory.

The alternative to AD FS for a contract without it (UPSTREAMS.md, "Direct LDAP bind to Active
Directory"). Unlike the other brokers this is no redirect: our login page takes the password
and :meth:`LdapDirectory.authenticate` checks it against the directory:

1. reject an empty password before any bind (RFC 4513 §5.1.2: a simple bind with a DN and no
   password is an *unauthenticated* bind, which many servers answer with success);
2. bind as the contract's service account, over LDAPS or StartTLS with a validated
   certificate (ldap3's default ``Tls`` validates nothing; a clear-text simple bind is refused
   when the directory is configured);
3. search ``(&(objectClass=user)(|(userPrincipalName=X)(sAMAccountName=X)(mail=X)))`` with
   ``X`` escaped (RFC 4515 §3); anything but exactly one entry is ``invalid_credentials``;
4. refuse an entry whose ``userAccountControl`` has ACCOUNTDISABLE (AD refuses its bind with
   ``data 533`` itself; OpenLDAP knows nothing of the attribute);
5. bind as that entry's DN with the typed password on a new connection, then unbind. A
   failure is AD's ``data XXX`` code or, from OpenLDAP's ppolicy overlay, the password policy
   response control we ask for (locked after ``pwdMaxFailure``, expired, must change); both
   are read in :mod:`brokers.ad_errors`.

The subject is ``objectGUID`` (immutable; UPN, sAMAccountName and mail can be renamed) as a
canonical GUID string. A directory without ``objectGUID`` — OpenLDAP, our test double — gives
``entryUUID`` (RFC 4530) instead, in the same form. Our side counts failures and rate-limits as
for passwords (K1), so that we never drive the customer's AD lockout.
"""

from __future__ import annotations

import math
import ssl
import uuid
import warnings
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from brokers.ad_errors import PPOLICY_CONTROL
from brokers.ad_errors import parse_ad_bind_error
from brokers.ad_errors import ppolicy_reason
from brokers.base import BrokeredIdentity
from brokers.base import BrokerError

with warnings.catch_warnings():
    # ldap3 2.9.1, its latest release, reads pyasn1's tagMap/typeMap, deprecated since pyasn1
    # 0.6.1 (a DeprecationWarning per import); fixed on ldap3's master, unreleased:
    # https://github.com/cannatag/ldap3/issues/1159
    warnings.filterwarnings("ignore", r"(tagMap|typeMap) is deprecated", DeprecationWarning)
    from ldap3 import NONE
    from ldap3 import SIMPLE
    from ldap3 import SUBTREE
    from ldap3 import Connection
    from ldap3 import Server
    from ldap3 import Tls
    from ldap3.core.exceptions import LDAPCommunicationError
    from ldap3.core.exceptions import LDAPException
    from ldap3.core.exceptions import LDAPSocketOpenError
    from ldap3.core.exceptions import LDAPStartTLSError
    from ldap3.utils.conv import escape_filter_chars

PROVIDER = "ad"
DEFAULT_TIMEOUT = 5.0

#: Reason codes :meth:`LdapDirectory.authenticate` raises. Show the generic sign-in error for
#: all but ``password_expired`` and ``must_change_password`` ("change your password in your
#: company's system"); the others are for the audit log (X3).
REASONS = (
    "invalid_credentials",  # wrong password, no such user, or more than one match
    "password_expired",
    "must_change_password",
    "account_disabled",
    "account_locked",
    "account_expired",
    "logon_hours",  # AD: not allowed to sign in at this time
    "workstation",  # AD: not allowed to sign in from this computer
    "no_subject",  # the entry has neither objectGUID nor entryUUID
    "unreachable",
    "timeout",
    "directory_error",  # TLS, service account or another answer we did not expect
)

#: MS-ADTS 2.2.16 userAccountControl: ACCOUNTDISABLE.
UF_ACCOUNTDISABLE = 0x2
RESULT_SUCCESS = 0
RESULT_SIZE_LIMIT_EXCEEDED = 4
RESULT_INVALID_CREDENTIALS = 49
USER_ATTRIBUTES = ("objectGUID", "entryUUID", "mail", "displayName", "cn", "userAccountControl")


def default_issuer(url: str, base_dn: str) -> str:
    """The identity key's issuer of a directory reached at ``url`` under ``base_dn``:
    ``scheme://host:port/base_dn`` (the port made explicit, so ``ldaps://h`` and
    ``ldaps://h:636`` are one directory)."""
    parts = urlsplit(url)
    port = parts.port or (636 if parts.scheme == "ldaps" else 389)
    return f"{parts.scheme}://{parts.hostname}:{port}/{base_dn}"


class LdapDirectory:
    """One contract's directory (provider ``ad``).

    :param url: ``ldaps://host[:636]``, or ``ldap://host[:389]`` with ``start_tls=True``;
        a plain ``ldap://`` URL is refused (no clear-text simple bind).
    :param base_dn: where users are searched (subtree), e.g. ``dc=example,dc=co,dc=jp``.
    :param bind_dn: the contract's service account, which may read users.
    :param bind_password: its password.
    :param ca_certs_file: PEM file of the CA(s) that issued the directory's certificate.
    :param ca_certs_data: the same as a PEM string. Without either, the system's CAs.
    :param start_tls: upgrade an ``ldap://`` connection with StartTLS before binding.
    :param timeout: seconds for connecting and for each answer (answers: whole seconds,
        rounded up).
    :param user_filter: an extra filter all users must match, e.g.
        ``(memberOf=cn=WorksDrive,ou=Groups,dc=example,dc=co,dc=jp)``.
    :param issuer: the identity key's issuer; defaults to ``url/base_dn``. Set it to keep
        existing bindings when the URL changes (another domain controller, LDAPS ↔ StartTLS).
    :raises ValueError: for a configuration that would be unsafe or cannot work.
    """

    name = PROVIDER

    def __init__(
        self,
        *,
        url: str,
        base_dn: str,
        bind_dn: str,
        bind_password: str,
        ca_certs_file: str | None = None,
        ca_certs_data: str | None = None,
        start_tls: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        user_filter: str | None = None,
        issuer: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
            raise ValueError(f"not an ldap:// or ldaps:// URL: {url!r}")
        if parts.scheme == "ldap" and not start_tls:
            raise ValueError("ldap:// without start_tls would send passwords in clear text")
        if parts.scheme == "ldaps" and start_tls:
            raise ValueError("ldaps:// is already TLS: start_tls is for ldap:// URLs")
        if not (base_dn and bind_dn and bind_password):
            raise ValueError("base_dn, bind_dn and bind_password are required")
        if user_filter and not (user_filter.startswith("(") and user_filter.endswith(")")):
            raise ValueError(f"user_filter must be a parenthesised filter: {user_filter!r}")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.host = parts.hostname
        self.use_ssl = parts.scheme == "ldaps"
        self.port = parts.port or (636 if self.use_ssl else 389)
        self.start_tls = start_tls
        self.base_dn = base_dn
        self.bind_dn = bind_dn
        self.bind_password = bind_password
        self.timeout = timeout
        self.user_filter = user_filter or ""
        self.issuer = issuer or default_issuer(url, base_dn)
        try:  # fail at startup, not at the first sign-in, for a missing file or bad PEM
            ssl.create_default_context(cafile=ca_certs_file, cadata=ca_certs_data)
        except OSError as error:  # ssl.SSLError is an OSError
            raise ValueError(f"unusable CA certificates: {error}") from error
        self.tls = Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=ca_certs_file,
            ca_certs_data=ca_certs_data,
        )

    def authenticate(self, login: str, password: str) -> BrokeredIdentity:
        """Check *password* for the user whose UPN, sAMAccountName or mail is *login*.

        :raises BrokerError: with one of :data:`REASONS`. A disabled or locked account gets
            its reason whatever the password (as AD's 775 does): pages show the generic error.
        """
        if not login or not password:
            raise BrokerError("invalid_credentials", "empty login or password")
        with self._connection(self.bind_dn, self.bind_password) as service:
            if not service.bind(read_server_info=False):
                raise BrokerError("directory_error", f"service account: {_describe(service)}")
            entry = self._find_user(service, login)
        attributes = _lower_keys(entry["raw_attributes"])
        control = _first(attributes, "useraccountcontrol")
        if control and int(control) & UF_ACCOUNTDISABLE:
            raise BrokerError("account_disabled", entry["dn"])
        self._bind_as_user(entry["dn"], password)
        return BrokeredIdentity(
            provider=PROVIDER,
            issuer=self.issuer,
            subject=_subject(attributes),
            email=_text(_first(attributes, "mail")),
            display_name=_text(_first(attributes, "displayname") or _first(attributes, "cn")),
        )

    def _find_user(self, service: Connection, login: str) -> Mapping[str, Any]:
        value = escape_filter_chars(login)
        search_filter = (
            f"(&(objectClass=user){self.user_filter}"
            f"(|(userPrincipalName={value})(sAMAccountName={value})(mail={value})))"
        )
        # Two entries are enough to tell "ambiguous"; referrals (AD's ForestDnsZones and the
        # like) are not followed and not counted.
        service.search(
            self.base_dn,
            search_filter,
            search_scope=SUBTREE,
            attributes=list(USER_ATTRIBUTES),
            size_limit=2,
            time_limit=max(1, round(self.timeout)),
        )
        result = service.result["result"]
        if result not in (RESULT_SUCCESS, RESULT_SIZE_LIMIT_EXCEEDED):
            raise BrokerError("directory_error", f"search: {_describe(service)}")
        entries = [r for r in service.response or () if r.get("type") == "searchResEntry"]
        if len(entries) != 1:
            raise BrokerError("invalid_credentials", f"{len(entries)} users match")
        entry: Mapping[str, Any] = entries[0]
        return entry

    def _bind_as_user(self, dn: str, password: str) -> None:
        with self._connection(dn, password) as user:
            if user.bind(read_server_info=False, controls=[(PPOLICY_CONTROL, False, None)]):
                # A successful bind can still demand a new password first (pwdReset).
                reason = ppolicy_reason(user.result)
                if reason is not None:
                    raise BrokerError(reason, dn)
                return
            if user.result["result"] != RESULT_INVALID_CREDENTIALS:
                raise BrokerError("directory_error", f"bind: {_describe(user)}")
            reason = ppolicy_reason(user.result) or parse_ad_bind_error(
                user.result["message"] or ""
            )
            raise BrokerError(reason, dn)

    @contextmanager
    def _connection(self, user: str, password: str) -> Iterator[Connection]:
        """An open, TLS-protected connection, not yet bound; unbound and closed afterwards.
        ldap3's exceptions become :class:`BrokerError`."""
        server = Server(
            self.host,
            port=self.port,
            use_ssl=self.use_ssl,
            tls=self.tls,
            get_info=NONE,
            connect_timeout=self.timeout,
        )
        connection = Connection(
            server,
            user=user,
            password=password,
            authentication=SIMPLE,
            # ldap3 packs it into SO_RCVTIMEO as whole seconds.
            receive_timeout=math.ceil(self.timeout),
            auto_referrals=False,
            read_only=True,
            raise_exceptions=False,
        )
        try:
            connection.open(read_server_info=False)
            if self.start_tls:
                connection.start_tls(read_server_info=False)
            yield connection
        except LDAPStartTLSError as error:
            raise BrokerError("directory_error", _last_error(connection, error)) from error
        except LDAPSocketOpenError as error:
            # Also a failed LDAPS handshake: an unknown CA is a configuration error.
            detail = _last_error(connection, error)
            reason = _network_reason(detail)
            if "ssl" in detail.lower() and reason != "timeout":
                reason = "directory_error"
            raise BrokerError(reason, detail) from error
        except LDAPCommunicationError as error:
            detail = _last_error(connection, error)
            raise BrokerError(_network_reason(detail), detail) from error
        except LDAPException as error:
            raise BrokerError("directory_error", _last_error(connection, error)) from error
        finally:
            _close(connection)


def _close(connection: Connection) -> None:
    """Unbind, or after a failed open close the socket ldap3 leaves behind."""
    try:
        if not connection.closed:
            connection.unbind()
        elif connection.socket is not None:
            connection.socket.close()
    except (LDAPException, OSError):
        pass  # the answer is known; a failed goodbye changes nothing


def _last_error(connection: Connection, error: LDAPException) -> str:
    return connection.last_error or str(error)


def _network_reason(detail: str) -> str:
    return "timeout" if "timed out" in detail.lower() else "unreachable"


def _describe(connection: Connection) -> str:
    result = connection.result or {}
    return f"{result.get('description')} ({result.get('result')}): {result.get('message')}"


def _lower_keys(attributes: Mapping[str, Sequence[bytes]]) -> dict[str, Sequence[bytes]]:
    """Attribute names are case-insensitive; servers answer in their own spelling."""
    return {name.lower(): values for name, values in attributes.items()}


def _first(attributes: Mapping[str, Sequence[bytes]], name: str) -> bytes | None:
    values = attributes.get(name)
    return values[0] if values else None


def _text(value: bytes | None) -> str | None:
    return value.decode("utf-8", errors="replace") if value else None


def _subject(attributes: Mapping[str, Sequence[bytes]]) -> str:
    """``objectGUID`` (16 bytes, the first three fields little-endian, MS-DTYP 2.3.4.2) or
    else ``entryUUID`` (RFC 4530, text), as a lower-case canonical GUID string."""
    try:
        guid = _first(attributes, "objectguid")
        if guid is not None:
            return str(uuid.UUID(bytes_le=guid))
        entry_uuid = _first(attributes, "entryuuid")
        if entry_uuid is not None:
            return str(uuid.UUID(entry_uuid.decode("ascii")))
    except ValueError as error:
        raise BrokerError("no_subject", f"malformed GUID: {error}") from error
    raise BrokerError("no_subject", "neither objectGUID nor entryUUID")
