"""How strongly a sign-in was authenticated (``acr``/``amr``, OIDC Core §2, RFC 8176) and
whether a relying party asked for two factors (OIDC Core §3.1.2.1, §5.5.1.1; SPEC L3, L7).

One place for the rules the login, the second factor, the brokered sign-in and the session
reuse at ``/authorize`` share."""

from __future__ import annotations

from collections.abc import Iterable

from policies.claims_request import ClaimsRequestError
from policies.claims_request import parse_claims_request

#: acr values (OIDC Core §2): one factor, two factors; advertised in discovery.
ACR_ONE_FACTOR = "urn:worksdrive:acr:1fa"
ACR_TWO_FACTOR = "urn:worksdrive:acr:2fa"
ACR_VALUES = (ACR_ONE_FACTOR, ACR_TWO_FACTOR)
#: amr (RFC 8176) of a password sign-in completed by each second factor of ours.
FACTOR_AMR: dict[str, tuple[str, ...]] = {
    "sms": ("pwd", "sms", "mfa"),
    "totp": ("pwd", "otp", "mfa"),
    "passkey": ("pwd", "hwk", "mfa"),
    "recovery": ("pwd", "otp", "mfa"),
}
#: amr of a password alone.
PASSWORD_AMR = ("pwd",)
#: Upstream amr values that prove more than one factor (UPSTREAMS.md; RFC 8176).
UPSTREAM_MFA_AMR = frozenset(
    {
        "mfa",
        "ngcmfa",
        "http://schemas.microsoft.com/claims/multipleauthn",
    }
)


def is_password_sign_in(amr: Iterable[str]) -> bool:
    """The sign-in's first factor was our password (L2), not an upstream (``fed``)."""
    return "pwd" in amr


def acr_for(amr: Iterable[str]) -> str:
    """The ``acr`` of a sign-in: two factors exactly when its ``amr`` holds ``mfa``."""
    return ACR_TWO_FACTOR if "mfa" in amr else ACR_ONE_FACTOR


def amr_for_factor(kind: str) -> list[str]:
    """L4–L6, X1: the ``amr`` of a password sign-in whose second factor was ``kind``."""
    return list(FACTOR_AMR[kind])


def amr_for_upstream(upstream_amr: Iterable[str]) -> list[str]:
    """L7: ``fed``, plus ``mfa`` only when the upstream proves it (UPSTREAMS.md: absent means
    "federated, method unknown")."""
    return ["fed", "mfa"] if UPSTREAM_MFA_AMR & set(upstream_amr) else ["fed"]


def amr_with_route(amr: Iterable[str], via_line: bool) -> list[str]:
    """L9: a sign-in through line authentication adds ``line`` to the session's ``amr``."""
    return [*amr, "line"] if via_line else list(amr)


def requested_acr(acr_values: str | None, claims: str | None) -> tuple[str, ...]:
    """The acr values an RP asked for, in its order: ``acr_values`` (OIDC Core §3.1.2.1) or
    an ``acr`` member of the ``claims`` parameter's ``id_token`` (§5.5.1.1). A malformed
    ``claims`` asks for nothing here (``/authorize`` refuses it before a login starts)."""
    if acr_values:
        return tuple(acr_values.split())
    try:
        acr = parse_claims_request(claims).get("id_token", {}).get("acr") or {}
    except ClaimsRequestError:
        return ()
    if isinstance(acr.get("values"), list):
        return tuple(v for v in acr["values"] if isinstance(v, str))
    if isinstance(acr.get("value"), str):
        return (acr["value"],)
    return ()


def is_two_factor_requested(requested: tuple[str, ...]) -> bool:
    """L3: the RP's first choice is the two-factor ``acr`` (later values are fallbacks)."""
    return requested[:1] == (ACR_TWO_FACTOR,)


def is_acr_met(requested: tuple[str, ...], acr: str) -> bool:
    """Whether a sign-in of ``acr`` answers the request: a one-factor session cannot answer a
    two-factor request (step up), and a one-factor upstream sign-in cannot either (L7)."""
    return not is_two_factor_requested(requested) or acr == ACR_TWO_FACTOR
