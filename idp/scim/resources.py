"""G7: our users as SCIM ``User`` resources (RFC 7643 §4.1), built with ``scim2-models``.

What a user is to a directory: ``userName`` is the email address (the one a person signs in
with, L2) and ``emails`` holds it as the primary work address; ``name.formatted`` and
``displayName`` are the name; ``externalId`` is the directory's own id; ``active`` is false
while the user is disabled (G4); ``preferredLanguage`` is the language of the
user's pages and mails. ``meta.version`` is a weak ETag over all of these, ``meta.location``
an absolute URL built from the configured issuer (never the request's Host)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from scim2_models import AuthenticationScheme
from scim2_models import Bulk
from scim2_models import ChangePassword
from scim2_models import Email
from scim2_models import ETag
from scim2_models import Filter
from scim2_models import Meta
from scim2_models import Name
from scim2_models import Patch
from scim2_models import ScimProvider
from scim2_models import ServiceProviderConfig
from scim2_models import Sort
from scim2_models import User as ScimUser

from idp import extensions
from idp.models import User

PREFIX = "/scim/v2"
#: RFC 7644 §3.4.2.4: the most resources one page holds (a larger ``count`` is cut to it).
MAX_RESULTS = 200


def base_url() -> str:
    return extensions.settings().issuer.rstrip("/") + PREFIX


def service_provider_config() -> ServiceProviderConfig:
    """RFC 7643 §5: what this service supports."""
    return ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="Bearer token",
                description=(
                    "A bearer token of one contract (RFC 6750 §2.1, Authorization header "
                    "only), issued by `idp scim token --contract ID`."
                ),
                primary=True,
            )
        ],
    )


def provider() -> ScimProvider:
    """The service as scim2-models describes it: the User resource and its configuration."""
    return ScimProvider(models=[ScimUser], config=service_provider_config())


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def preferred_language(user: User) -> str:
    return user.locale


def locale_of(preferred: str | None) -> str:
    """Our page language for a ``preferredLanguage`` (RFC 7231 §5.3.5 tag): English for
    ``en``/``en-US``…, otherwise Japanese (the default, SPEC Mails)."""
    if preferred and preferred.strip().lower().split("-")[0] == "en":
        return "en"
    return "ja"


def is_active(user: User) -> bool:
    """``active``: not disabled (G4)."""
    return user.disabled_at is None


def version(user: User) -> str:
    """A weak ETag (RFC 7232 §2.3) over everything the resource shows."""
    shown = [
        user.id,
        user.email,
        user.name,
        user.external_id,
        user.locale,
        is_active(user),
    ]
    digest = hashlib.sha256(json.dumps(shown).encode("utf-8")).hexdigest()[:20]
    return f'W/"{digest}"'


def location(user: User) -> str:
    return f"{base_url()}/Users/{user.id}"


def _emails(user: User) -> list[Email]:
    try:
        return [Email(value=user.email, primary=True, type=Email.Type.work)]
    except ValidationError:
        # An address stored before SCIM that the strict email syntax refuses
        # (``someone@localhost``): shown as it is.
        return [Email.model_construct(value=user.email, primary=True, type=Email.Type.work)]


def to_scim(user: User) -> ScimUser[Any]:
    return ScimUser(
        id=user.id,
        user_name=user.email,
        external_id=user.external_id,
        name=Name(formatted=user.name) if user.name else None,
        display_name=user.name or None,
        active=is_active(user),
        emails=_emails(user),
        preferred_language=preferred_language(user),
        meta=Meta(
            resource_type="User",
            created=_aware(user.created_at),
            location=location(user),
            version=version(user),
        ),
    )
