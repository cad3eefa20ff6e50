"""The AD FS double (tests/adfs_double) served over https for the browser walk, as a farm is.

The account menu takes only an ``https://`` issuer (D1; ``idp/contracts/ad.py``), and the
contractor types it there, so the walk cannot use the ``allow_http`` the domain-level tests
pass. The double gets a certificate for 127.0.0.1 from a CA made for the test session; the
provider trusts that CA through requests' own ``REQUESTS_CA_BUNDLE`` (the way an operator
trusts a customer farm's private CA), set only while a test runs (``adfs_trusted``); Chromium's
context ignores the certificate (``ignore_https_errors``), as a person would have the CA
installed.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.oid import NameOID

from tests.slapd import _make_ca
from tests.test_brokers_adfs_daccount import AdfsDouble
from tests.test_brokers_adfs_daccount import start_adfs_double

LOCALHOST = "127.0.0.1"


@dataclass
class HttpsFiles:
    ca: Path
    certificate: Path
    key: Path


def write_https_files(folder: Path) -> HttpsFiles:
    """A CA, and a server certificate for 127.0.0.1 it signed (PEM files in ``folder``)."""
    ca_key, ca_cert = _make_ca("Test AD FS CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fs.corp.example")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOCALHOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    files = HttpsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    files.ca.write_bytes(ca_cert.public_bytes(pem))
    files.certificate.write_bytes(certificate.public_bytes(pem))
    files.key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    files.key.chmod(0o600)
    return files


@dataclass
class HttpsAdfs:
    double: AdfsDouble
    ca: Path


@pytest.fixture(scope="module")
def adfs_https(
    browser_provider: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpsAdfs]:
    """The AD FS double on https, its client redirecting to the browser provider's callback."""
    folder = tmp_path_factory.mktemp("adfs-https")
    files = write_https_files(folder)
    double = start_adfs_double(
        folder,
        redirect_uri=f"{browser_provider.url}/login/callback/ad",
        tls=(files.certificate, files.key),
    )
    try:
        yield HttpsAdfs(double, files.ca)
    finally:
        double.stop()


@pytest.fixture()
def adfs_trusted(adfs_https: HttpsAdfs, monkeypatch: pytest.MonkeyPatch) -> HttpsAdfs:
    """The provider (in this process) trusts the double's CA while the test runs."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(adfs_https.ca))
    return adfs_https
