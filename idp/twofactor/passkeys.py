"""X1: passkeys and security keys (WebAuthn Level 2/3) as a further second factor.

Pure functions over plain data: no Flask, no database, no clock but the ``now`` passed in.
The ``webauthn`` package (duo-labs py_webauthn) does every verification; this module picks
the ceremony options, keeps the ceremony state as plain JSON-ready data, and turns every
failure into one :class:`PasskeyError` whose ``reason`` goes to the audit log (X3).

Single use: the caller keeps the state from ``start_*`` server-side (the ephemeral store,
with a short time to live) and deletes it before calling ``finish_*`` with it, whatever the
outcome. A challenge must never verify twice (WebAuthn §13.4.3): with sign counts of 0/0,
which many passkeys report, nothing else would stop a replayed response.
"""

from __future__ import annotations

import binascii
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from typing import Literal

from webauthn import generate_authentication_options
from webauthn import generate_registration_options
from webauthn import options_to_json
from webauthn import verify_authentication_response
from webauthn import verify_registration_response
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers import parse_attestation_object
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers import parse_authenticator_data
from webauthn.helpers import parse_client_data_json
from webauthn.helpers import parse_registration_credential_json
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import InvalidAuthenticationResponse
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import AttestationConveyancePreference
from webauthn.helpers.structs import AuthenticatorData
from webauthn.helpers.structs import AuthenticatorSelectionCriteria
from webauthn.helpers.structs import AuthenticatorTransport
from webauthn.helpers.structs import ClientDataType
from webauthn.helpers.structs import PublicKeyCredentialDescriptor
from webauthn.helpers.structs import ResidentKeyRequirement
from webauthn.helpers.structs import UserVerificationRequirement

#: 32 random bytes per ceremony; §13.4.3 asks for at least 16.
CHALLENGE_BYTES = 32
#: How long the browser lets the person find and touch the authenticator (§5.4, §5.5: a hint).
TIMEOUT_MS = 120_000
#: ES256 first (every authenticator has it), then EdDSA, then RS256 for Windows Hello (§5.8.5).
PUBLIC_KEY_ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
#: §5.4.3: the user handle is at most 64 bytes.
MAX_USER_ID_BYTES = 64
#: §7.1 (L3): a credential id longer than 1023 bytes is refused.
MAX_CREDENTIAL_ID_BYTES = 1023

REGISTRATION = "registration"
AUTHENTICATION = "authentication"

Reason = Literal[
    "invalid_state",
    "invalid_response",
    "challenge_mismatch",
    "origin_mismatch",
    "rp_id_mismatch",
    "user_not_present",
    "unknown_credential",
    "already_registered",
    "bad_signature",
    "cloned_authenticator",
]


class PasskeyError(Exception):
    """A ceremony that must not succeed; ``reason`` is the audit code (X3)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason: Reason = reason


@dataclass(frozen=True)
class StoredCredential:
    """What the caller keeps per registered authenticator; ``asdict`` makes it JSON.

    ``sign_count`` is replaced by the count :func:`finish_authentication` returns.
    """

    credential_id: str  # base64url
    public_key: str  # base64url of the COSE_Key bytes
    sign_count: int
    transports: list[str]
    aaguid: str
    backed_up: bool
    created_at: float
    name: str


def start_registration(
    *,
    rp_id: str,
    rp_name: str,
    user_id: str,
    user_name: str,
    user_display_name: str,
    existing: list[StoredCredential],
) -> tuple[str, dict[str, Any]]:
    """Begin a registration ceremony (§7.1): options for ``navigator.credentials.create``.

    Attestation "none": we trust no vendor list, so asking for more would only cost
    privacy. Already registered credentials are excluded (§5.4 ``excludeCredentials``),
    so one authenticator is not added twice.

    :param user_id: the stable, opaque user handle (§5.4.3); UTF-8, at most 64 bytes and
        never an email address or other personal data.
    :return: the options JSON for the page, and the state to keep server-side.
    """
    user_handle = user_id.encode()
    if not user_handle or len(user_handle) > MAX_USER_ID_BYTES:
        raise ValueError("user_id must be 1 to 64 bytes of UTF-8 (WebAuthn §5.4.3)")
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=rp_name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=user_display_name,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_describe(credential) for credential in existing],
        supported_pub_key_algs=PUBLIC_KEY_ALGORITHMS,
    )
    state = {
        "ceremony": REGISTRATION,
        "challenge": bytes_to_base64url(challenge),
        "excluded_credential_ids": [credential.credential_id for credential in existing],
    }
    return options_to_json(options), state


def finish_registration(
    *,
    state: dict[str, Any],
    credential_json: str,
    expected_origin: str,
    rp_id: str,
    name: str,
    now: float,
) -> StoredCredential:
    """Verify the ``create`` response (§7.1) and return the credential to store.

    User presence is required, user verification only preferred. The caller must still
    check that no other account holds the same ``credential_id`` (§7.1) before storing it.

    :raises PasskeyError: on anything wrong; no other exception leaves this function.
    """
    challenge, excluded = _read_state(state, REGISTRATION, "excluded_credential_ids")
    try:
        credential = parse_registration_credential_json(credential_json)
        _refuse_mismatched_ids(credential.id, credential.raw_id)
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=rp_id,
                expected_origin=expected_origin,
                require_user_presence=True,
                require_user_verification=False,
                supported_pub_key_algs=PUBLIC_KEY_ALGORITHMS,
            )
        except WebAuthnException as error:
            auth_data = parse_attestation_object(credential.response.attestation_object).auth_data
            reason = _explain_failure(
                credential.response.client_data_json,
                auth_data,
                expected_type=ClientDataType.WEBAUTHN_CREATE,
                challenge=challenge,
                origin=expected_origin,
                rp_id=rp_id,
            )
            raise PasskeyError(reason or "invalid_response") from error
        _refuse_cross_origin(credential.response.client_data_json)
        if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
            raise PasskeyError("invalid_response")
        credential_id = bytes_to_base64url(verified.credential_id)
        if credential_id in excluded:
            raise PasskeyError("already_registered")
        return StoredCredential(
            credential_id=credential_id,
            public_key=bytes_to_base64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            transports=[transport.value for transport in credential.response.transports or []],
            aaguid=verified.aaguid,
            backed_up=verified.credential_backed_up,
            created_at=now,
            name=name,
        )
    except PasskeyError:
        raise
    except Exception as error:  # the contract: only PasskeyError leaves; the cause is kept
        raise PasskeyError("invalid_response") from error


def start_authentication(
    *, rp_id: str, credentials: list[StoredCredential]
) -> tuple[str, dict[str, Any]]:
    """Begin an authentication ceremony (§7.2) for a person already identified.

    ``allowCredentials`` lists their authenticators (§5.5), so a security key without a
    discoverable credential works too. This is a second factor, not a username-less
    sign-in: with no ``credentials``, :func:`finish_authentication` refuses every response.

    :return: the options JSON for ``navigator.credentials.get``, and the state to keep.
    """
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=[_describe(credential) for credential in credentials],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    state = {
        "ceremony": AUTHENTICATION,
        "challenge": bytes_to_base64url(challenge),
        "allowed_credential_ids": [credential.credential_id for credential in credentials],
    }
    return options_to_json(options), state


def finish_authentication(
    *,
    state: dict[str, Any],
    credential_json: str,
    credentials: list[StoredCredential],
    expected_origin: str,
    rp_id: str,
) -> tuple[str, int]:
    """Verify the ``get`` response (§7.2) against the person's stored credentials.

    The credential must be one offered in ``allowCredentials`` and still in
    ``credentials``. The caller stores the returned sign count on that credential.

    :return: the credential id used and its new sign count.
    :raises PasskeyError: on anything wrong; no other exception leaves this function.
    """
    challenge, allowed = _read_state(state, AUTHENTICATION, "allowed_credential_ids")
    try:
        credential = parse_authentication_credential_json(credential_json)
        _refuse_mismatched_ids(credential.id, credential.raw_id)
        credential_id = bytes_to_base64url(credential.raw_id)
        stored = next((c for c in credentials if c.credential_id == credential_id), None)
        if stored is None or credential_id not in allowed:
            raise PasskeyError("unknown_credential")
        verify = partial(
            verify_authentication_response,
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=expected_origin,
            credential_public_key=base64url_to_bytes(stored.public_key),
            require_user_verification=False,
        )
        try:
            verified = verify(credential_current_sign_count=stored.sign_count)
        except WebAuthnException as error:
            reason = _explain_failure(
                credential.response.client_data_json,
                parse_authenticator_data(credential.response.authenticator_data),
                expected_type=ClientDataType.WEBAUTHN_GET,
                challenge=challenge,
                origin=expected_origin,
                rp_id=rp_id,
            )
            if reason is None and isinstance(error, InvalidAuthenticationResponse):
                # What is left of §7.2 is the count and the signature. Only a count that is
                # signed is evidence of a clone: a forger would otherwise get keys disabled.
                is_signed = _passes(verify, credential_current_sign_count=0)
                reason = "cloned_authenticator" if is_signed else "bad_signature"
            raise PasskeyError(reason or "invalid_response") from error
        _refuse_cross_origin(credential.response.client_data_json)
        # py_webauthn applies the same rule; kept here so X1 does not hang on its version.
        if not is_sign_count_valid(stored.sign_count, verified.new_sign_count):
            raise PasskeyError("cloned_authenticator")
        return credential_id, verified.new_sign_count
    except PasskeyError:
        raise
    except Exception as error:  # the contract: only PasskeyError leaves; the cause is kept
        raise PasskeyError("invalid_response") from error


def is_sign_count_valid(stored: int, new: int) -> bool:
    """§6.1.1 and §7.2: 0 then 0 means the authenticator does not count; else it must grow.

    A count that does not grow means two copies of the private key exist (a cloned
    authenticator) or an assertion is replayed.
    """
    return (stored == 0 and new == 0) or new > stored


def _describe(credential: StoredCredential) -> PublicKeyCredentialDescriptor:
    """The descriptor for ``excludeCredentials`` / ``allowCredentials`` (§5.8.3)."""
    known = {transport.value for transport in AuthenticatorTransport}
    return PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(credential.credential_id),
        # Transports a newer browser reported but this package does not know are dropped.
        transports=[AuthenticatorTransport(t) for t in credential.transports if t in known],
    )


def _read_state(state: Any, ceremony: str, ids_key: str) -> tuple[bytes, list[str]]:
    """The challenge and credential ids of a state from ``start_*`` of the same ceremony."""
    if not isinstance(state, dict) or state.get("ceremony") != ceremony:
        raise PasskeyError("invalid_state")
    challenge = state.get("challenge")
    credential_ids = state.get(ids_key)
    if not isinstance(challenge, str) or not isinstance(credential_ids, list):
        raise PasskeyError("invalid_state")
    if not all(isinstance(credential_id, str) for credential_id in credential_ids):
        raise PasskeyError("invalid_state")
    try:
        decoded = base64url_to_bytes(challenge)
    except (binascii.Error, ValueError) as error:
        raise PasskeyError("invalid_state") from error
    if len(decoded) != CHALLENGE_BYTES:
        raise PasskeyError("invalid_state")
    return decoded, credential_ids


def _refuse_mismatched_ids(credential_id: str, raw_id: bytes) -> None:
    """``id`` is the base64url of ``rawId`` (§5.1); a response where they differ is forged."""
    if credential_id != bytes_to_base64url(raw_id):
        raise PasskeyError("invalid_response")


def _refuse_cross_origin(client_data_json: bytes) -> None:
    """§7.1/§7.2 leave cross-origin iframes to the RP: our pages are never framed."""
    if parse_client_data_json(client_data_json).cross_origin:
        raise PasskeyError("origin_mismatch")


def _explain_failure(
    client_data_json: bytes,
    auth_data: AuthenticatorData,
    *,
    expected_type: ClientDataType,
    challenge: bytes,
    origin: str,
    rp_id: str,
) -> Reason | None:
    """Name the first check of §7.1/§7.2 a response py_webauthn refused fails.

    Only labels a refusal: py_webauthn alone decides. ``None`` when no field check fails.
    """
    client_data = parse_client_data_json(client_data_json)
    if client_data.type != expected_type:
        return "invalid_response"
    if client_data.challenge != challenge:
        return "challenge_mismatch"
    if client_data.origin != origin:
        return "origin_mismatch"
    # rpIdHash is SHA-256(rp_id) (§6.1)
    if auth_data.rp_id_hash != hashlib.sha256(rp_id.encode()).digest():
        return "rp_id_mismatch"
    if not auth_data.flags.up:
        return "user_not_present"
    if auth_data.flags.bs and not auth_data.flags.be:
        return "invalid_response"  # backed up but not eligible (§6.1.3)
    return None


def _passes(verify: Callable[..., object], **kwargs: Any) -> bool:
    """Whether py_webauthn accepts the response with these arguments changed."""
    try:
        verify(**kwargs)
    except WebAuthnException:
        return False
    return True
