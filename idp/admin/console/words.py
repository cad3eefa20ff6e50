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
        "smtp_refused": _("A mail to the user was not delivered: the mail server refused it."),
        "too_many_attempts": _(
            "A mail to the user was not delivered: the mail server did not take it for hours."
        ),
    }


def event_labels() -> dict[str, str]:
    return {
        "login": _("Sign-in"),
        "second_factor": _("Two-step verification"),
        "acr_unmet": _("Sign-in"),
        "mail_dropped": _("Mail not delivered"),
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


def upload_row_texts() -> dict[str, str]:
    """G3: why a row of an invitation upload was not invited (the codes of
    ``idp.users.bulk_invite.ROW_REASONS``), and the other rows' results."""
    return {
        "pending": _("Waiting to be invited."),
        "invited": _("Invited."),
        "already_invited": _("Already invited; nothing was sent again."),
        "email_missing": _("The email address is missing."),
        "invalid_email": _("The email address is not valid."),
        "invalid_role": _("The role must be user or admin (利用者 or 管理者)."),
        "role_forbidden": _("You may not invite a user with this role."),
        "name_too_long": _("The name is too long (200 characters at most)."),
        "too_many_fields": _("The row has more fields than the header row."),
        "duplicate": _("The address appears on an earlier row of the file."),
        # The same words whoever uses the address (G8).
        "email_unavailable": _("This address cannot be used. Enter another address."),
        "contract_not_active": _("The contract is not active."),
        "not_sent": _("The invitation could not be sent."),
    }


def upload_file_texts() -> dict[str, str]:
    """G3: why an invitation upload was refused as a whole."""
    return {
        "no_file": _("Choose a CSV file."),
        "too_large": _("The file is larger than 5 MB. Split it into smaller files."),
        "too_many_rows": _("The file has more than 100,000 rows. Split it into smaller files."),
        "empty": _("The file has no rows to invite."),
        "encoding": _(
            "The file could not be read. Save it as CSV in UTF-8 or Shift_JIS "
            "(Excel: “CSV UTF-8” or “CSV”)."
        ),
        "not_csv": _("The file is not a CSV file."),
        "role_forbidden": _("You may not invite users."),
        # The English page names the English columns only; the Japanese translation names
        # both (the file may use either), so no Japanese stands in the English message.
        "bad_header": _("The first row must name the columns: email,name,role."),
        "contract_not_active": _("The contract is not active."),
    }
