"""A software authenticator and browser for WebAuthn ceremonies in tests (X1).

:class:`SoftAuthenticator` answers the options JSON of ``navigator.credentials.create``
and ``.get`` as a browser with one authenticator would, and returns the
RegistrationResponseJSON / AuthenticationResponseJSON a page posts (WebAuthn L3 §5.1,
``toJSON()``). It signs with EC P-256 (ES256) through ``cryptography``, attests with fmt
"none" (§8.7) and can misbehave on request: another origin or RP ID, no UP/UV flag, a
chosen sign count (replay, clone), another key (forgery), another challenge.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers import encode_cbor

ES256 = -7
#: Authenticator data flags (§6.1).
FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_BE = 0x08
FLAG_BS = 0x10
FLAG_AT = 0x40
SOFT_AAGUID = bytes.fromhex("50c0f7a5e1b14f0c9a4e7c1b2d3e4f50")


class NotAllowedError(Exception):
    """The DOMException a browser raises when no credential may answer (§6.3.3)."""


class InvalidStateError(Exception):
    """The DOMException for an authenticator already in ``excludeCredentials`` (§6.3.2)."""


class NotSupportedError(Exception):
    """The DOMException for options offering no algorithm the authenticator has."""


@dataclass
class SoftCredential:
    """One credential inside the authenticator: key, scope, handle and counter."""

    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0


class SoftAuthenticator:
    """A browser at ``origin`` with one ES256 authenticator plugged in.

    :param counts: ``False`` for an authenticator that always reports sign count 0.
    :param backup_eligible: sets BE, and BS too with ``backed_up`` (a synced passkey).
    :param cross_origin: a page framed in an iframe of another origin (§5.8.1).
    """

    def __init__(
        self,
        origin: str,
        *,
        counts: bool = True,
        user_verifying: bool = True,
        backup_eligible: bool = False,
        backed_up: bool = False,
        transports: tuple[str, ...] = ("usb",),
        cross_origin: bool = False,
    ) -> None:
        self.origin = origin
        self.counts = counts
        self.user_verifying = user_verifying
        self.backup_eligible = backup_eligible
        self.backed_up = backed_up
        self.transports = list(transports)
        self.cross_origin = cross_origin
        self.credentials: dict[bytes, SoftCredential] = {}

    def create(
        self,
        options_json: str | dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        user_present: bool = True,
        user_verified: bool | None = None,
        challenge: str | None = None,
        credential_id: bytes | None = None,
    ) -> dict[str, Any]:
        """Answer ``navigator.credentials.create`` (§5.1.3, §6.3.2).

        The keyword arguments make it misbehave: ``credential_id`` reuses an id (a client
        that ignores ``excludeCredentials``), the others replace what a browser would send.
        """
        options = _load(options_json)
        offered = {param["alg"] for param in options["pubKeyCredParams"]}
        if ES256 not in offered:
            raise NotSupportedError("no ES256 in pubKeyCredParams")
        excluded = {base64url_to_bytes(c["id"]) for c in options.get("excludeCredentials", [])}
        if credential_id is None and excluded & self.credentials.keys():
            raise InvalidStateError("this authenticator is already registered")
        scope = options["rp"].get("id") or _host(self.origin)
        credential = SoftCredential(
            credential_id=credential_id or secrets.token_bytes(32),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=scope,
            user_handle=base64url_to_bytes(options["user"]["id"]),
        )
        self.credentials[credential.credential_id] = credential
        client_data = self._client_data(
            "webauthn.create", challenge or options["challenge"], origin
        )
        public_key = credential.private_key.public_key()
        auth_data = self._authenticator_data(
            rp_id or scope,
            user_present=user_present,
            user_verified=user_verified,
            sign_count=self._advance(credential),
            attested=SOFT_AAGUID
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + _cose_key(public_key),
        )
        attestation_object = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        encoded_id = bytes_to_base64url(credential.credential_id)
        return {
            "id": encoded_id,
            "rawId": encoded_id,
            "type": "public-key",
            "authenticatorAttachment": "cross-platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "attestationObject": bytes_to_base64url(attestation_object),
                "authenticatorData": bytes_to_base64url(auth_data),
                "transports": self.transports,
                "publicKeyAlgorithm": ES256,
                "publicKey": bytes_to_base64url(
                    public_key.public_bytes(
                        serialization.Encoding.DER,
                        serialization.PublicFormat.SubjectPublicKeyInfo,
                    )
                ),
            },
        }

    def get(
        self,
        options_json: str | dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        user_present: bool = True,
        user_verified: bool | None = None,
        challenge: str | None = None,
        sign_count: int | None = None,
        forge: bool = False,
    ) -> dict[str, Any]:
        """Answer ``navigator.credentials.get`` (§5.1.4, §6.3.3).

        ``sign_count`` reports a chosen count (same as last: a replay; lower: a clone);
        ``forge`` signs with a fresh key instead of the credential's.
        """
        options = _load(options_json)
        scope = options.get("rpId") or _host(self.origin)
        allowed = [base64url_to_bytes(c["id"]) for c in options.get("allowCredentials", [])]
        usable = [
            c
            for c in self.credentials.values()
            if c.rp_id == scope and (not allowed or c.credential_id in allowed)
        ]
        if not usable:
            raise NotAllowedError("no credential of this authenticator is allowed")
        credential = usable[0]
        client_data = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        auth_data = self._authenticator_data(
            rp_id or scope,
            user_present=user_present,
            user_verified=user_verified,
            sign_count=self._advance(credential) if sign_count is None else sign_count,
        )
        signer = ec.generate_private_key(ec.SECP256R1()) if forge else credential.private_key
        # §6.3.3: the signature is over authenticatorData || SHA-256(clientDataJSON)
        signature = signer.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        encoded_id = bytes_to_base64url(credential.credential_id)
        return {
            "id": encoded_id,
            "rawId": encoded_id,
            "type": "public-key",
            "authenticatorAttachment": "cross-platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "authenticatorData": bytes_to_base64url(auth_data),
                "signature": bytes_to_base64url(signature),
                "userHandle": bytes_to_base64url(credential.user_handle),
            },
        }

    def _advance(self, credential: SoftCredential) -> int:
        """The next signature counter (§6.1.1); 0 forever if the authenticator never counts."""
        if self.counts:
            credential.sign_count += 1
        return credential.sign_count

    def _client_data(self, ceremony: str, challenge: str, origin: str | None) -> bytes:
        """CollectedClientData serialized as browsers do (§5.8.1.1): compact, fixed order."""
        collected = {
            "type": ceremony,
            "challenge": challenge,
            "origin": origin or self.origin,
            "crossOrigin": self.cross_origin,
        }
        return json.dumps(collected, separators=(",", ":")).encode()

    def _authenticator_data(
        self,
        rp_id: str,
        *,
        user_present: bool,
        user_verified: bool | None,
        sign_count: int,
        attested: bytes = b"",
    ) -> bytes:
        """rpIdHash || flags || signCount (big-endian) || attestedCredentialData (§6.1)."""
        is_verified = self.user_verifying if user_verified is None else user_verified
        flags = (
            (FLAG_UP if user_present else 0)
            | (FLAG_UV if is_verified else 0)
            | (FLAG_BE if self.backup_eligible else 0)
            | (FLAG_BS if self.backed_up else 0)
            | (FLAG_AT if attested else 0)
        )
        rp_id_hash = hashlib.sha256(rp_id.encode()).digest()
        return rp_id_hash + bytes([flags]) + struct.pack(">I", sign_count) + attested


def _cose_key(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The credential public key as a COSE_Key EC2 map (RFC 9053 §7.1.1, WebAuthn §5.8.5)."""
    numbers = public_key.public_numbers()
    return encode_cbor(
        {
            1: 2,  # kty: EC2
            3: ES256,  # alg
            -1: 1,  # crv: P-256
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }
    )


def _load(options_json: str | dict[str, Any]) -> dict[str, Any]:
    """Options as the page gets them: the JSON text, or already a dict."""
    if isinstance(options_json, dict):
        return options_json
    loaded: dict[str, Any] = json.loads(options_json)
    return loaded


def _host(origin: str) -> str:
    """The effective domain of an origin, the default RP ID (§5.1.3)."""
    return origin.split("://", 1)[1].split(":", 1)[0]
