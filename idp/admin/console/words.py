"""The console's words for SPEC's codes, in the page's language: login methods, roles, and
X3's reason codes of sign-ins and refusals explained in a sentence (an unknown code is shown
as it is)."""

from __future__ import annotations

from idp.i18n import gettext as _
from idp.vocabulary import LoginMethod
from idp.vocabulary import Role


def method_labels() -> dict[str, str]:
    return {
        LoginMethod.PASSWORD: _("Email and password"),
        LoginMethod.GOOGLE: "Google",
        LoginMethod.FACEBOOK: "Facebook",
        LoginMethod.MICROSOFT: "Microsoft",
        LoginMethod.DACCOUNT: _("d account"),
        LoginMethod.AD: "Active Directory",
    }


def role_labels() -> dict[str, str]:
    return {
        Role.CONTRACTOR: _("Contractor"),
        Role.ADMIN: _("Administrator"),
        Role.USER: _("User"),
    }


def reason_texts() -> dict[str, str]:
    """X3: what each reason code of a sign-in, a refusal or a challenge means."""
    return {
        "wrong_password": _("The password was wrong."),
        "locked": _(
            "The account is locked (too many wrong passwords, or locked by an administrator)."
        ),
        "too_many_failures": _("Locked after too many wrong passwords in a row."),
        "admin_lock": _("Locked by an administrator."),
        "route_line_only": _(
            "The contract allows line authentication only; the sign-in came from the internet."
        ),
        "line_not_registered": _(
            "The sign-in came through a line that is not registered for the contract."
        ),
        "line_notification_declined": _(
            "Line authentication was closed by choosing not to notify the line information."
        ),
        "line_west_first_access": _(
            "First access through a West Japan line: the line-information screen was shown."
        ),
        "contract_inactive": _("The contract is not active."),
        "contract_closed": _("The trial ended more than 15 days ago; the contract is closed."),
        "trial_ended": _("The trial has ended."),
        "not_permitted": _("The account may not use this."),
        "acr_unmet": _("The service asked for two factors; the upstream sign-in gave one."),
        "2fa_new_browser": _("Two-step verification was asked: a browser not remembered."),
        "2fa_browser_stale": _(
            "Two-step verification was asked: the browser was last used more than 30 days ago."
        ),
        "2fa_acr_requested": _("Two-step verification was asked by the service."),
        "wrong_code": _("A wrong verification code was entered."),
        "wrong_recovery_code": _("A wrong recovery code was entered."),
        "code_replayed": _("A verification code was used a second time."),
        "too_many_codes": _("Too many wrong verification codes."),
        "too_many_recovery_codes": _("Too many wrong recovery codes."),
        "ip_rate_limited": _("Too many attempts from the same network."),
        "rate_limited_user": _("Too many attempts for this account."),
        "unknown_connection_id": _("An unknown Active Directory connection ID."),
        "disabled": _("The account is disabled."),
    }


def event_labels() -> dict[str, str]:
    return {
        "login": _("Sign-in"),
        "second_factor": _("Two-step verification"),
        "acr_unmet": _("Sign-in"),
    }


def outcome_labels() -> dict[str, str]:
    return {"ok": _("Succeeded"), "refused": _("Refused"), "info": _("Challenge")}


def refusal_texts() -> dict[str, str]:
    """G4: why an operation on a user is refused (``policies/admin.py``'s reason codes) or
    would change nothing (the domain's conflicts)."""
    return {
        "forbidden": _("You may not do this to this user."),
        "not_admin": _("Only the contractor and administrators may do this."),
        "contractor_role": _("The contractor's role never changes."),
        "contractor_account": _(
            "The contractor's account is not disabled or deleted: it ends with the contract."
        ),
        "target_contractor": _("Only the contractor does this to the contractor's account."),
        "self_raise": _("Nobody can raise their own privilege."),
        "self": _(
            "You cannot do this to your own account. Ask the contractor or another administrator."
        ),
        "peer_admin": _("Only the contractor does this to an administrator."),
        "not_locked": _("The account is not locked."),
        "already_disabled": _("The account is already disabled."),
        "not_disabled": _("The account is not disabled."),
        "already_admin": _("The user already has the admin privilege."),
        "already_user": _("The user does not have the admin privilege."),
    }
