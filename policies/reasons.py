"""X3: the SPEC rule behind each reason code the login audits, so that an administrator sees
why a sign-in was refused or challenged (the user detail's recent sign-ins, the "what if"
view)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

REASON_RULES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        # Identify (L2, K1, L7, L8).
        "wrong_password": ("L2", "K1"),
        "not_password_method": ("L2",),
        "locked": ("K1",),
        "identity_not_registered": ("L7",),
        "not_current_method": ("L7",),
        "other_contract": ("L8",),
        # The policies step (C1, C3, A1, L9, U2).
        "contract_inactive": ("C3",),
        "trial_ended": ("C1",),
        "contract_closed": ("C1",),
        "disabled": ("G4",),
        "route_line_only": ("A1",),
        "line_not_registered": ("L9",),
        "line_notification_declined": ("L9",),
        "line_west_first_access": ("L9",),
        "not_permitted": ("U2",),
        # The second factor (L3–L6, X2, O1) and why none is needed (L7, T1, A4, L9, L3).
        "2fa_new_browser": ("L3",),
        "2fa_browser_stale": ("L3", "X2"),
        "2fa_acr_requested": ("L3", "O1"),
        "wrong_code": ("L4", "L5", "L6"),
        "code_replayed": ("L5", "L6"),
        "wrong_recovery_code": ("L6",),
        "acr_unmet": ("L7", "O1"),
        "2fa_upstream": ("L7",),
        "2fa_off": ("T1",),
        "2fa_off_line_only": ("A4",),
        "2fa_line": ("L9",),
        "2fa_remembered": ("L3", "X2"),
    }
)


def rules_of(reason: str | None) -> tuple[str, ...]:
    """The SPEC rules behind ``reason``; none for a reason no rule names (or no reason)."""
    return REASON_RULES.get(reason or "", ())
