"""RFC 7644 §4: what the service supports, its resource types and their schemas; the
configuration and the User schema come from scim2-models (``idp.scim.resources``)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import request
from scim2_models import Context
from scim2_models import ListResponse
from scim2_models import Meta
from scim2_models import NotFoundException
from scim2_models import ResourceType
from scim2_models import Schema
from scim2_models import SearchRequest
from werkzeug.exceptions import MethodNotAllowed

from idp.scim.blueprint import bp
from idp.scim.blueprint import scim_response
from idp.scim.resources import base_url
from idp.scim.resources import provider
from idp.scim.resources import service_provider_config

#: The User attributes this service keeps (``idp.scim.resources``), with the sub-attributes
#: of ``name``; the Schemas endpoint lists only these (RFC 7643 §7: what the service
#: supports), and the others of RFC 7643 §4.1 are ignored when a client sends them.
KEPT_ATTRIBUTES = {
    "userName": None,
    "name": {"formatted", "familyName", "givenName"},
    "displayName": None,
    "preferredLanguage": None,
    "active": None,
    "emails": None,
}


def _kept(schema: Schema) -> Schema:
    attributes = []
    for attribute in schema.attributes or []:
        if attribute.name not in KEPT_ATTRIBUTES:
            continue
        subs = KEPT_ATTRIBUTES[str(attribute.name)]
        if subs is not None:
            attribute.sub_attributes = [
                sub for sub in attribute.sub_attributes or [] if sub.name in subs
            ]
        attributes.append(attribute)
    schema.attributes = attributes
    return schema


def _schemas() -> list[Schema]:
    schemas = []
    for schema in map(_kept, provider().schemas):
        schema.meta = Meta(resource_type="Schema", location=f"{base_url()}/Schemas/{schema.id}")
        schemas.append(schema)
    return schemas


def _resource_types() -> list[ResourceType]:
    types = []
    for resource_type in provider().resource_types:
        resource_type.meta = Meta(
            resource_type="ResourceType",
            location=f"{base_url()}/ResourceTypes/{resource_type.id}",
        )
        types.append(resource_type)
    return types


def _listing(resources: list[Any], model: type[Any]) -> Response:
    """RFC 7644 §4: the discovery lists ignore filters; paging is honoured."""
    query: SearchRequest[Any] = SearchRequest.model_validate(request.args.to_dict())
    page = resources[query.start_index_0 : query.stop_index_0]
    listing = ListResponse[model](  # type: ignore[valid-type]
        total_results=len(resources),
        start_index=query.start_index or 1,
        items_per_page=len(page),
        resources=page,
    )
    return scim_response(listing.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


@bp.get("/ServiceProviderConfig")
def service_provider_config_view() -> Response:
    config = service_provider_config()
    config.meta = Meta(
        resource_type="ServiceProviderConfig", location=f"{base_url()}/ServiceProviderConfig"
    )
    return scim_response(config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


@bp.get("/Schemas")
def schemas() -> Response:
    return _listing(_schemas(), Schema)


@bp.get("/Schemas/<schema_id>")
def schema(schema_id: str) -> Response:
    for each in _schemas():
        if each.id == schema_id:
            return scim_response(each.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    raise NotFoundException(detail=f"No schema {schema_id}.")


@bp.get("/ResourceTypes")
def resource_types() -> Response:
    return _listing(_resource_types(), ResourceType)


@bp.get("/ResourceTypes/<type_id>")
def resource_type(type_id: str) -> Response:
    for each in _resource_types():
        if each.id == type_id:
            return scim_response(each.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    raise NotFoundException(detail=f"No resource type {type_id}.")


#: The endpoints served, by their first segment, and how many segments each may have.
ENDPOINTS = {"ServiceProviderConfig": 1, "Schemas": 2, "ResourceTypes": 2, "Users": 2}


@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str) -> Response:
    """RFC 7644 §3.12: an endpoint this service does not have (Groups, Bulk, /Me…) is 404;
    one it has, asked with a method it does not serve there, is 405."""
    segments = rest.split("/")
    if len(segments) <= ENDPOINTS.get(segments[0], 0):
        raise MethodNotAllowed()
    raise NotFoundException(detail=f"No endpoint /{rest}.")
