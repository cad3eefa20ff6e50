"""policies/assurance.py and policies/claims_request.py as tables, no app (STYLE.md §13):
acr/amr of a sign-in and whether a relying party asked for two factors (L3, L4–L7, L9, X1)."""

from __future__ import annotations

import json

import pytest

from policies.assurance import ACR_ONE_FACTOR
from policies.assurance import ACR_TWO_FACTOR
from policies.assurance import acr_for
from policies.assurance import amr_for_factor
from policies.assurance import amr_for_upstream
from policies.assurance import amr_with_route
from policies.assurance import is_acr_met
from policies.assurance import is_password_sign_in
from policies.assurance import is_two_factor_requested
from policies.assurance import requested_acr
from policies.claims_request import ClaimsRequestError
from policies.claims_request import parse_claims_request

MS_MFA = "http://schemas.microsoft.com/claims/multipleauthn"


def _claims(acr: object) -> str:
    return json.dumps({"id_token": {"acr": acr}})


@pytest.mark.covers("L3", "L4", "L6", "L7")
@pytest.mark.parametrize(
    ("amr", "acr"),
    [
        (["pwd"], ACR_ONE_FACTOR),
        (["pwd", "sms", "mfa"], ACR_TWO_FACTOR),
        (["fed"], ACR_ONE_FACTOR),
        (["fed", "mfa"], ACR_TWO_FACTOR),
        (["pwd", "line"], ACR_ONE_FACTOR),
        ([], ACR_ONE_FACTOR),
    ],
)
def test_acr_for(amr, acr):
    assert acr_for(amr) == acr


@pytest.mark.covers("L4", "L5", "L6", "X1")
@pytest.mark.parametrize(
    ("kind", "amr"),
    [
        ("sms", ["pwd", "sms", "mfa"]),
        ("totp", ["pwd", "otp", "mfa"]),
        ("passkey", ["pwd", "hwk", "mfa"]),
        ("recovery", ["pwd", "otp", "mfa"]),
    ],
)
def test_amr_for_factor(kind, amr):
    assert amr_for_factor(kind) == amr
    assert acr_for(amr_for_factor(kind)) == ACR_TWO_FACTOR


def test_amr_for_factor_returns_a_fresh_list():
    amr_for_factor("sms").append("x")
    assert amr_for_factor("sms") == ["pwd", "sms", "mfa"]


@pytest.mark.covers("L7")
@pytest.mark.parametrize(
    ("upstream", "amr"),
    [
        ([], ["fed"]),
        (["pwd"], ["fed"]),
        (["mfa"], ["fed", "mfa"]),
        (["pwd", "ngcmfa"], ["fed", "mfa"]),
        ([MS_MFA], ["fed", "mfa"]),
        (["otp"], ["fed"]),  # one factor named is still one factor
    ],
)
def test_amr_for_upstream(upstream, amr):
    assert amr_for_upstream(upstream) == amr


@pytest.mark.covers("L9")
@pytest.mark.parametrize(
    ("amr", "via_line", "expected"),
    [(["pwd"], True, ["pwd", "line"]), (["pwd"], False, ["pwd"]), ([], True, ["line"])],
)
def test_amr_with_route(amr, via_line, expected):
    assert amr_with_route(amr, via_line) == expected


@pytest.mark.covers("L3")
@pytest.mark.parametrize(
    ("acr_values", "claims", "expected"),
    [
        (None, None, ()),
        ("", "", ()),
        (ACR_TWO_FACTOR, None, (ACR_TWO_FACTOR,)),
        (f"{ACR_ONE_FACTOR} {ACR_TWO_FACTOR}", None, (ACR_ONE_FACTOR, ACR_TWO_FACTOR)),
        # acr_values wins over the claims parameter.
        (ACR_ONE_FACTOR, _claims({"value": ACR_TWO_FACTOR}), (ACR_ONE_FACTOR,)),
        (None, _claims({"value": ACR_TWO_FACTOR}), (ACR_TWO_FACTOR,)),
        (
            None,
            _claims({"values": [ACR_TWO_FACTOR, 3, ACR_ONE_FACTOR]}),
            (ACR_TWO_FACTOR, ACR_ONE_FACTOR),
        ),
        (None, _claims({"essential": True}), ()),
        (None, _claims(None), ()),
        (None, _claims({"value": 2}), ()),
        (None, json.dumps({"userinfo": {"acr": {"value": ACR_TWO_FACTOR}}}), ()),
        (None, "not json", ()),
        (None, "[]", ()),
    ],
)
def test_requested_acr(acr_values, claims, expected):
    assert requested_acr(acr_values, claims) == expected


@pytest.mark.covers("L3")
@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ((), False),
        ((ACR_TWO_FACTOR,), True),
        ((ACR_TWO_FACTOR, ACR_ONE_FACTOR), True),
        # A fallback to one factor is accepted: the RP's first choice decides.
        ((ACR_ONE_FACTOR, ACR_TWO_FACTOR), False),
        (("urn:other",), False),
    ],
)
def test_is_two_factor_requested(requested, expected):
    assert is_two_factor_requested(requested) is expected


@pytest.mark.covers("L3", "L7")
@pytest.mark.parametrize(
    ("requested", "acr", "expected"),
    [
        ((), ACR_ONE_FACTOR, True),
        ((ACR_ONE_FACTOR,), ACR_ONE_FACTOR, True),
        ((ACR_TWO_FACTOR,), ACR_ONE_FACTOR, False),
        ((ACR_TWO_FACTOR,), ACR_TWO_FACTOR, True),
        ((ACR_ONE_FACTOR, ACR_TWO_FACTOR), ACR_ONE_FACTOR, True),
    ],
)
def test_is_acr_met(requested, acr, expected):
    assert is_acr_met(requested, acr) is expected


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        (None, {}),
        ("", {}),
        ("{}", {}),
        ('{"id_token": {"acr": null}}', {"id_token": {"acr": None}}),
        (
            '{"userinfo": {"email": {"essential": true}}, "other": 1}',
            {"userinfo": {"email": {"essential": True}}},
        ),
        ('{"id_token": null}', {}),
    ],
)
def test_parse_claims_request(raw, parsed):
    assert parse_claims_request(raw) == parsed


@pytest.mark.parametrize(
    "raw",
    ["{", "[]", '"x"', '{"id_token": []}', '{"userinfo": {"email": 1}}', "[" * 100_000],
)
def test_parse_claims_request_refuses(raw):
    with pytest.raises(ClaimsRequestError):
        parse_claims_request(raw)


@pytest.mark.covers("L3", "L7")
@pytest.mark.parametrize(
    ("amr", "expected"),
    [(["pwd"], True), (["pwd", "sms", "mfa"], True), (["fed", "mfa"], False), ([], False)],
)
def test_is_password_sign_in(amr, expected):
    assert is_password_sign_in(amr) is expected
