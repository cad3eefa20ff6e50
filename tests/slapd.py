"""A private OpenLDAP ``slapd`` for the LDAP broker tests (UPSTREAMS.md, "Test doubles: LDAP").

The session fixture ``slapd`` builds, in a temporary directory, a CA and a server certificate
for ``localhost``/``127.0.0.1``, a cn=config (``back_mdb``, the ``ppolicy`` overlay with
lockout, core/cosine/inetorgperson and a small Active-Directory-like schema) and a directory
under ``dc=example,dc=co,dc=jp``; loads both with ``slapadd``; and runs ``slapd`` on two free
ports, one for ``ldap://`` (StartTLS) and one for ``ldaps://``. It is stopped and its directory
removed at the end of the session, and also at interpreter exit.

Use it as a pytest plugin::

    pytest_plugins = ["tests.slapd"]

slapd and ldap-utils come from ``scripts/ensure-system-packages.sh``; nothing is installed
here. A missing ``/usr/sbin/slapd`` fails the fixture with an explanation, never a skip.

The AD-like schema carries Microsoft's own OIDs for ``sAMAccountName``, ``userPrincipalName``,
``userAccountControl`` and ``objectGUID``, and an auxiliary class ``user`` (alias ``adUser``;
AD's structural ``user`` needs its whole class tree), so the broker's AD filter
``(objectClass=user)`` works unchanged. slapd has no ``objectGUID`` of its own: most users get
only ``entryUUID``, and ``grace`` carries a binary ``objectGUID`` to exercise AD's encoding.
"""

from __future__ import annotations

import atexit
import base64
import datetime
import hashlib
import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.oid import NameOID

from tests.realservices import LOCALHOST
from tests.realservices import ServiceError
from tests.realservices import free_port

__all__ = ["DirectoryUser", "SlapdServer", "slapd"]

SLAPD = Path("/usr/sbin/slapd")
SLAPADD = Path("/usr/sbin/slapadd")
MODULE_PATH = Path("/usr/lib/ldap")
SCHEMA_DIR = Path("/etc/ldap/schema")
ENSURE_SCRIPT = "scripts/ensure-system-packages.sh"

BASE_DN = "dc=example,dc=co,dc=jp"
ROOT_DN = f"cn=admin,{BASE_DN}"
SERVICE_DN = f"cn=svc-idp,ou=service,{BASE_DN}"
POLICY_DN = f"cn=default,ou=policies,{BASE_DN}"
#: Wrong passwords before ppolicy locks an account (``pwdMaxFailure``).
MAX_FAILURE = 5
#: AD's ``userAccountControl``: NORMAL_ACCOUNT (0x200), and with ACCOUNTDISABLE (0x2).
UAC_NORMAL = 512
UAC_DISABLED = 514
#: An objectGUID as AD stores it (little-endian fields), for ``grace``.
GRACE_GUID = uuid.UUID("a1b2c3d4-e5f6-4711-8899-aabbccddeeff")

AD_SCHEMA = """\
dn: cn=adlike,cn=schema,cn=config
objectClass: olcSchemaConfig
cn: adlike
olcAttributeTypes: ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
olcAttributeTypes: ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
olcAttributeTypes: ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
olcAttributeTypes: ( 1.2.840.113556.1.4.2 NAME 'objectGUID'
  EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
olcObjectClasses: ( 1.2.840.113556.1.5.9 NAME ( 'user' 'adUser' )
  DESC 'Active Directory user, test double' SUP top AUXILIARY
  MAY ( sAMAccountName $ userPrincipalName $ userAccountControl $ objectGUID ) )
"""


@dataclass(frozen=True)
class DirectoryUser:
    """One person in the directory, with the password the tests type."""

    login: str
    password: str
    dn: str
    mail: str
    display_name: str
    user_account_control: int = UAC_NORMAL
    object_guid: uuid.UUID | None = None

    @property
    def upn(self) -> str:
        return f"{self.login}@example.co.jp"


def _person(
    login: str,
    name: str,
    mail: str | None = None,
    user_account_control: int = UAC_NORMAL,
    object_guid: uuid.UUID | None = None,
) -> DirectoryUser:
    return DirectoryUser(
        login=login,
        password=f"{login.capitalize()}-Pa55-word",
        dn=f"cn={name},ou=people,{BASE_DN}",
        mail=mail or f"{login}@example.co.jp",
        display_name=name,
        user_account_control=user_account_control,
        object_guid=object_guid,
    )


#: alice: normal; bob: disabled (514); carol: for the lockout test; dave and erin share a mail
#: address; grace has an AD objectGUID; henry: for wrong-password tests (stays below lockout);
#: ivy: registered through the account menu's AD page test. An identity binds to one user of the
#: whole provider, so each test that binds one on the shared provider uses its own person
#: (alice: tests/test_security_limits.py, grace: tests/test_invitations.py).
USERS: dict[str, DirectoryUser] = {
    u.login: u
    for u in (
        _person("alice", "鈴木 アリス"),
        _person("bob", "Bob Disabled", user_account_control=UAC_DISABLED),
        _person("carol", "Carol Lockout"),
        _person("dave", "Dave Shared", mail="shared@example.co.jp"),
        _person("erin", "Erin Shared", mail="shared@example.co.jp"),
        _person("grace", "Grace Guid", object_guid=GRACE_GUID),
        _person("henry", "Henry Typo"),
        _person("ivy", "Ivy Register"),
    )
}


@dataclass
class SlapdServer:
    """A running private slapd and what a test needs to reach it."""

    base_dir: Path
    ldap_port: int = 0
    ldaps_port: int = 0
    base_dn: str = BASE_DN
    root_dn: str = ROOT_DN
    root_password: str = "Root-Pa55-word"
    service_dn: str = SERVICE_DN
    service_password: str = "Svc-Pa55-word"
    max_failure: int = MAX_FAILURE
    users: dict[str, DirectoryUser] = field(default_factory=lambda: dict(USERS))
    _proc: subprocess.Popen[bytes] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url_ldap(self) -> str:
        return f"ldap://{LOCALHOST}:{self.ldap_port}"

    @property
    def url_ldaps(self) -> str:
        return f"ldaps://{LOCALHOST}:{self.ldaps_port}"

    @property
    def ca_file(self) -> Path:
        """The CA that signed the server certificate."""
        return self.base_dir / "ca.pem"

    @property
    def untrusted_ca_file(self) -> Path:
        """Another CA, which did not sign the server certificate."""
        return self.base_dir / "other-ca.pem"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "slapd.log"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 15.0, attempts: int = 3) -> SlapdServer:
        """Write certificates and LDIF, slapadd them, and start slapd on free ports."""
        if not SLAPD.exists() or not SLAPADD.exists():
            raise ServiceError(
                f"{SLAPD} or {SLAPADD} is missing: run {ENSURE_SCRIPT} "
                "(installs the Debian packages slapd and ldap-utils)"
            )
        atexit.register(self.stop)
        try:
            self._write_certificates()
            self._load()
            for attempt in range(1, attempts + 1):
                if self._try_start(timeout):
                    return self
                taken = "Address already in use" in self._log_tail()
                if attempt == attempts or not taken:
                    raise ServiceError(f"slapd did not start:\n{self._log_tail()}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop slapd and delete its directory. Safe to call twice."""
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def _try_start(self, timeout: float) -> bool:
        """Launch once on fresh ports; False if slapd exited (a port was taken meanwhile)."""
        self.ldap_port, self.ldaps_port = free_port(), free_port()
        urls = f"{self.url_ldap}/ {self.url_ldaps}/"
        # Run as root without -u/-g: the files below belong to root, and slapd keeps the
        # invoking user unless told to drop privileges. -d 0 keeps it in the foreground.
        with self.log_file.open("wb") as log:
            self._proc = subprocess.Popen(
                [str(SLAPD), "-F", str(self.base_dir / "slapd.d"), "-h", urls, "-d", "0"],
                cwd=self.base_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                return False
            if _answers(self.ldap_port) and _answers(self.ldaps_port):
                return True
            time.sleep(0.05)
        raise ServiceError(f"slapd did not listen within {timeout}s:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def read_attribute(self, dn: str, attribute: str) -> str:
        """One attribute of one entry, read as the root DN with ``ldapsearch`` over LDAPS:
        what the directory holds, independently of the broker under test."""
        command = [
            "ldapsearch", "-LLL", "-x", "-o", "ldif_wrap=no", "-H", self.url_ldaps,
            "-D", self.root_dn, "-w", self.root_password, "-s", "base", "-b", dn, attribute,
        ]  # fmt: skip
        proc = subprocess.run(
            command,
            env={**os.environ, "LDAPTLS_CACERT": str(self.ca_file)},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        prefix = f"{attribute.lower()}: "
        for line in proc.stdout.splitlines():
            if line.lower().startswith(prefix):
                return line[len(prefix) :]
        raise ServiceError(f"no {attribute} for {dn}: {proc.stdout}{proc.stderr}")

    # -- content -----------------------------------------------------------------------------

    def _write_certificates(self) -> None:
        ca_key, ca_cert = _make_ca("Test LDAP CA")
        server_key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        server_cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_cert.subject)
            .public_key(server_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address(LOCALHOST)),
                    ]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _, other_ca = _make_ca("Untrusted LDAP CA")
        pem = serialization.Encoding.PEM
        self.ca_file.write_bytes(ca_cert.public_bytes(pem))
        self.untrusted_ca_file.write_bytes(other_ca.public_bytes(pem))
        (self.base_dir / "server.pem").write_bytes(server_cert.public_bytes(pem))
        key_file = self.base_dir / "server.key"
        key_file.write_bytes(
            server_key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_file.chmod(0o600)

    def _load(self) -> None:
        """slapadd the configuration (-n0), then the directory (-n1)."""
        config_dir = self.base_dir / "slapd.d"
        config_dir.mkdir()
        (self.base_dir / "data").mkdir()
        config_ldif = self.base_dir / "config.ldif"
        config_ldif.write_text(self._config_ldif(), encoding="utf-8")
        data_ldif = self.base_dir / "data.ldif"
        data_ldif.write_text(self._data_ldif(), encoding="utf-8")
        for number, ldif in (("0", config_ldif), ("1", data_ldif)):
            command = [str(SLAPADD), "-n", number, "-F", str(config_dir), "-l", str(ldif)]
            proc = subprocess.run(
                command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
            )
            if proc.returncode != 0:
                raise ServiceError(f"{' '.join(command)} failed:\n{proc.stdout}{proc.stderr}")

    def _config_ldif(self) -> str:
        d = self.base_dir
        schemas = "\n".join(
            (SCHEMA_DIR / f"{name}.ldif").read_text(encoding="utf-8")
            for name in ("core", "cosine", "inetorgperson")
        )
        return f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {d}/slapd.pid
olcArgsFile: {d}/slapd.args
olcTLSCACertificateFile: {d}/ca.pem
olcTLSCertificateFile: {d}/server.pem
olcTLSCertificateKeyFile: {d}/server.key

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {MODULE_PATH}
olcModuleLoad: back_mdb
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{schemas}
{AD_SCHEMA}
dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {d}/data
olcDbNoSync: TRUE
olcSuffix: {BASE_DN}
olcRootDN: {ROOT_DN}
olcRootPW: {self.root_password}
olcDbIndex: objectClass eq
olcDbIndex: sAMAccountName,userPrincipalName,mail eq
olcAccess: {{0}}to attrs=userPassword by anonymous auth by * none
olcAccess: {{1}}to * by dn.exact="{SERVICE_DN}" read by self read by * none

dn: olcOverlay={{0}}ppolicy,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {{0}}ppolicy
olcPPolicyDefault: {POLICY_DN}
olcPPolicyUseLockout: TRUE
"""

    def _data_ldif(self) -> str:
        entries = [
            f"dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\n"
            "dc: example\no: Example Co., Ltd.\n",
            *(
                f"dn: ou={ou},{BASE_DN}\nobjectClass: organizationalUnit\nou: {ou}\n"
                for ou in ("people", "service", "policies")
            ),
            f"dn: {POLICY_DN}\nobjectClass: organizationalRole\nobjectClass: pwdPolicy\n"
            f"cn: default\npwdAttribute: userPassword\npwdLockout: TRUE\n"
            f"pwdMaxFailure: {MAX_FAILURE}\npwdLockoutDuration: 0\n",
            f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\n"
            f"objectClass: simpleSecurityObject\ncn: svc-idp\n"
            f"userPassword: {_ssha(self.service_password)}\n",
        ]
        for user in self.users.values():
            entry = (
                f"dn: {user.dn}\nobjectClass: inetOrgPerson\nobjectClass: user\n"
                f"cn: {user.display_name}\nsn: {user.display_name.split()[-1]}\n"
                f"uid: {user.login}\nmail: {user.mail}\ndisplayName: {user.display_name}\n"
                f"sAMAccountName: {user.login}\nuserPrincipalName: {user.upn}\n"
                f"userAccountControl: {user.user_account_control}\n"
                f"userPassword: {_ssha(user.password)}\n"
            )
            if user.object_guid is not None:
                encoded = base64.b64encode(user.object_guid.bytes_le).decode()
                entry += f"objectGUID:: {encoded}\n"
            entries.append(entry)
        # LDIF is UTF-8 (RFC 2849 wants base64 for non-ASCII; slapadd accepts UTF-8 as is).
        return "\n".join(entries)


def _make_ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _ssha(password: str) -> str:
    """``{SSHA}`` as slapd verifies it: base64(SHA1(password + salt) + salt)."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # slapd's {SSHA} scheme
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection((LOCALHOST, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def slapd() -> Iterator[SlapdServer]:
    """A private slapd for this session (per xdist worker); users in ``slapd.users``."""
    server = SlapdServer(base_dir=Path(tempfile.mkdtemp(prefix="test-slapd-"))).start()
    try:
        yield server
    finally:
        server.stop()
