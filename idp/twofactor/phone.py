"""Phone numbers for SMS codes: validated and normalised to E.164 (phonenumbers)."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException
from phonenumbers import PhoneNumberFormat
from phonenumbers import PhoneNumberType

#: Numbers without a country code are Japanese (090-1234-5678).
DEFAULT_REGION = "JP"
SMS_CAPABLE = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


def normalise_phone(raw: str) -> str | None:
    """E.164 form of a valid mobile number, or None."""
    if not raw or len(raw) > 40:
        return None
    try:
        number = phonenumbers.parse(raw, DEFAULT_REGION)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.number_type(number) not in SMS_CAPABLE:
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """Shown on pages: only the last 4 digits."""
    return "•" * max(0, len(e164) - 5) + e164[-4:]
