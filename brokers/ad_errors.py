"""Why a directory refused a bind: Active Directory's ``data XXX`` sub-codes of result 49, and
the password policy response control of OpenLDAP's ppolicy overlay
(draft-behera-ldap-password-policy-11), each turned into a reason code of
:data:`brokers.ldap.REASONS`. Pure parsing, no connection: :mod:`brokers.ldap` binds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pyasn1.codec.ber import decoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import namedtype
from pyasn1.type import tag
from pyasn1.type import univ

#: AD's sub-codes of result 49 (``AcceptSecurityContext error, data XXX``): Win32 error codes in
#: hex (MS-ERREF 2.2), e.g. 0x52e ERROR_LOGON_FAILURE, 0x775 ERROR_ACCOUNT_LOCKED_OUT.
#: 525 (no such user) answers as 52e (wrong password) does: no account enumeration.
AD_BIND_ERRORS = {
    "525": "invalid_credentials",
    "52e": "invalid_credentials",
    "530": "logon_hours",
    "531": "workstation",
    "532": "password_expired",
    "533": "account_disabled",
    "701": "account_expired",
    "773": "must_change_password",
    "775": "account_locked",
}
AD_BIND_ERROR_DATA = re.compile(r"AcceptSecurityContext error, data ([0-9a-f]+)", re.IGNORECASE)

#: draft-behera-ldap-password-policy-11 §6.1: the ppolicy request control (no value); OpenLDAP
#: answers with the same OID. AD ignores it (not critical) and answers with data codes instead.
PPOLICY_CONTROL = "1.3.6.1.4.1.42.2.27.8.5.1"
#: Its response ``error`` values (§6.2) that we report; the others concern password changes.
PPOLICY_ERRORS = {0: "password_expired", 1: "account_locked", 2: "must_change_password"}


def _tagged(asn1_type: Any, number: int, *, explicit: bool = False) -> Any:
    """``[number] IMPLICIT asn1_type``, or ``[number] EXPLICIT`` (a CHOICE is always explicit)."""
    if explicit:
        outer = tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, number)
        return asn1_type.subtype(explicitTag=outer)
    return asn1_type.subtype(implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, number))


#: PasswordPolicyResponseValue ::= SEQUENCE {
#:     warning [0] CHOICE { timeBeforeExpiration [0] INTEGER,
#:                          graceAuthNsRemaining [1] INTEGER } OPTIONAL,
#:     error   [1] ENUMERATED { passwordExpired (0), accountLocked (1), … } OPTIONAL }
PPOLICY_RESPONSE = univ.Sequence(
    componentType=namedtype.NamedTypes(
        namedtype.OptionalNamedType(
            "warning",
            _tagged(
                univ.Choice(
                    componentType=namedtype.NamedTypes(
                        namedtype.NamedType("timeBeforeExpiration", _tagged(univ.Integer(), 0)),
                        namedtype.NamedType("graceAuthNsRemaining", _tagged(univ.Integer(), 1)),
                    )
                ),
                0,
                explicit=True,
            ),
        ),
        namedtype.OptionalNamedType("error", _tagged(univ.Enumerated(), 1)),
    )
)


def parse_ad_bind_error(message: str) -> str:
    """The reason code for AD's diagnostic message of a failed bind (result 49), e.g.
    ``80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563``.
    A message without a known ``data`` code is ``invalid_credentials``.

    :param message: the bind response's diagnosticMessage.
    """
    match = AD_BIND_ERROR_DATA.search(message)
    if match is None:
        return "invalid_credentials"
    return AD_BIND_ERRORS.get(match.group(1).lower(), "invalid_credentials")


def parse_ppolicy_error(value: bytes) -> str | None:
    """The reason code in a password policy response control value (BER), or ``None`` when it
    carries no error we report (a warning only, or a value we cannot decode).

    :param value: the controlValue of the response control :data:`PPOLICY_CONTROL`.
    """
    try:
        decoded, rest = decoder.decode(value, asn1Spec=PPOLICY_RESPONSE)
    except PyAsn1Error:
        return None
    error = decoded["error"]
    if rest or not error.isValue:
        return None
    return PPOLICY_ERRORS.get(int(error))


def ppolicy_reason(result: Mapping[str, Any]) -> str | None:
    """The reason in a bind result's ppolicy response control, if it carries one.

    :param result: ldap3's ``connection.result`` (``controls`` by OID).
    """
    control = (result.get("controls") or {}).get(PPOLICY_CONTROL)
    if not control or not isinstance(control.get("value"), bytes):
        return None
    return parse_ppolicy_error(control["value"])
