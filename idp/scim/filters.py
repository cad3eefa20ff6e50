"""RFC 7644 §3.4.2.2: a SCIM filter, parsed and checked by ``scim2-models``, turned into a
condition on the ``users`` table by walking its syntax tree.

The attributes a filter may name are those the resource shows (``idp.scim.resources``):
``userName`` and ``emails`` (``emails.value``, ``emails[value eq …]``) compare the
case-folded address (L2: case-insensitive), ``name.formatted``/``displayName`` the folded
name, ``externalId`` and ``id`` exactly (RFC 7643: caseExact), ``meta.created`` as a time,
``active`` whether the user is not disabled. Any other attribute is a 400 ``invalidFilter``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from typing import Any

from scim2_models import InvalidFilterException
from scim2_models.path import AttrPath
from scim2_models.path import CompareOperator
from scim2_models.path import Comparison
from scim2_models.path import FilterNode
from scim2_models.path import FilterVisitor
from scim2_models.path import LogicalExpr
from scim2_models.path import LogicalOperator
from scim2_models.path import Not
from scim2_models.path import Present
from scim2_models.path import ValuePath
from sqlalchemy import ColumnElement
from sqlalchemy import and_
from sqlalchemy import false
from sqlalchemy import func
from sqlalchemy import not_
from sqlalchemy import or_
from sqlalchemy import true

from idp.models import User
from idp.models import name_key
from idp.users.find import email_key

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:user"

Condition = ColumnElement[bool]


def _string(column: Any, op: CompareOperator, value: Any, absent: Condition) -> Condition:
    """A comparison of a text column, where ``absent`` says the attribute has no value
    (RFC 7644 §3.4.2.2: then only ``ne`` holds, and ``eq null``).

    Case-sensitive on both databases (SQLite's LIKE folds ASCII case, so ``co``/``sw``/``ew``
    go through ``replace``/``substr``): a case-exact ``externalId`` stays case-exact, and a
    folded column is compared with a folded value."""
    if value is None:
        if op == CompareOperator.eq:
            return absent
        if op == CompareOperator.ne:
            return not_(absent)
        return false()
    if not isinstance(value, str):
        raise InvalidFilterException(detail="a string attribute compares with a string")
    if op == CompareOperator.ne:
        return or_(absent, column != value)
    size = len(value)
    if op == CompareOperator.eq:
        condition = column == value
    elif op == CompareOperator.co:
        condition = func.replace(column, value, "") != column if value else true()
    elif op == CompareOperator.sw:
        condition = func.substr(column, 1, size) == value
    elif op == CompareOperator.ew:
        # substr from a start below 1 would count from the end on SQLite
        condition = and_(
            func.length(column) >= size,
            func.substr(column, func.length(column) - size + 1) == value,
        )
    else:
        # RFC 7644 §3.4.2.2 orders strings lexicographically, which each database's
        # collation decides its own way: not offered (400), except on ``meta.created``.
        raise InvalidFilterException(detail=f"'{op.value}' is not supported on text attributes")
    return and_(not_(absent), condition)


def _constant(actual: Any, op: CompareOperator, value: Any) -> Condition:
    """A comparison with an attribute every user has the same value of."""
    if op == CompareOperator.eq:
        return true() if actual == value else false()
    if op == CompareOperator.ne:
        return true() if actual != value else false()
    raise InvalidFilterException(detail=f"'{op.value}' does not apply to this attribute")


def _active(op: CompareOperator, value: Any) -> Condition:
    """``active``: not disabled (G4)."""
    if not isinstance(value, bool) or op not in (CompareOperator.eq, CompareOperator.ne):
        raise InvalidFilterException(detail="active compares with true or false (eq, ne)")
    is_active = value if op == CompareOperator.eq else not value
    return User.disabled_at.is_(None) if is_active else User.disabled_at.is_not(None)


def _time(op: CompareOperator, value: Any) -> Condition:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidFilterException(detail="meta.created compares with a time") from None
    if not isinstance(value, datetime):
        raise InvalidFilterException(detail="meta.created compares with a time")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    column = User.created_at
    comparisons: dict[CompareOperator, Callable[[], Condition]] = {
        CompareOperator.eq: lambda: column == value,
        CompareOperator.ne: lambda: column != value,
        CompareOperator.gt: lambda: column > value,
        CompareOperator.ge: lambda: column >= value,
        CompareOperator.lt: lambda: column < value,
        CompareOperator.le: lambda: column <= value,
    }
    if op not in comparisons:
        raise InvalidFilterException(detail=f"'{op.value}' does not apply to meta.created")
    return comparisons[op]()


def _name(attr_path: AttrPath) -> tuple[str, str | None]:
    if attr_path.uri is not None and attr_path.uri.casefold() != USER_SCHEMA:
        raise InvalidFilterException(detail=f"unknown schema {attr_path.uri}")
    sub = attr_path.sub_attr.casefold() if attr_path.sub_attr else None
    return attr_path.attr.casefold(), sub


class UserFilter(FilterVisitor[Condition]):
    """The condition on ``users`` a filter tree means; ``within`` is the multi-valued
    attribute a value selection (``emails[…]``) looks into."""

    def __init__(self, within: str | None = None) -> None:
        self.within = within

    def _attribute(self, attr_path: AttrPath) -> tuple[str, str | None]:
        attr, sub = _name(attr_path)
        if self.within is not None:
            return self.within, attr
        return attr, sub

    def visit_comparison(self, node: Comparison) -> Condition:
        attr, sub = self._attribute(node.attr_path)
        op, value = node.op, node.value
        if (attr, sub) in (("username", None), ("emails", None), ("emails", "value")):
            folded = email_key(value) if isinstance(value, str) else value
            return _string(User.email_key, op, folded, false())
        if (attr, sub) in (("name", "formatted"), ("displayname", None)):
            folded = name_key(value) if isinstance(value, str) else value
            # An empty name is no name: the resource shows none (idp.scim.resources).
            return _string(User.name_key, op, folded, User.name == "")
        if (attr, sub) == ("externalid", None):
            return _string(User.external_id, op, value, User.external_id.is_(None))
        if (attr, sub) == ("id", None):
            return _string(User.id, op, value, false())
        if (attr, sub) == ("active", None):
            return _active(op, value)
        if (attr, sub) == ("emails", "type"):
            return _constant("work", op, value)
        if (attr, sub) == ("emails", "primary"):
            return _constant(True, op, value)
        if (attr, sub) == ("meta", "created"):
            return _time(op, value)
        raise InvalidFilterException(detail=f"cannot filter on {node.attr_path}")

    def visit_present(self, node: Present) -> Condition:
        attr, sub = self._attribute(node.attr_path)
        if (attr, sub) == ("externalid", None):
            return User.external_id.is_not(None)
        if (attr, sub) in (("name", None), ("name", "formatted"), ("displayname", None)):
            return User.name != ""
        if (attr, sub) in (
            ("id", None),
            ("username", None),
            ("emails", None),
            ("emails", "value"),
            ("emails", "type"),
            ("emails", "primary"),
            ("active", None),
            ("meta", "created"),
        ):
            return true()
        raise InvalidFilterException(detail=f"cannot filter on {node.attr_path}")

    def visit_not(self, node: Not) -> Condition:
        return not_(self.visit(node.expr))

    def visit_logical_expr(self, node: LogicalExpr) -> Condition:
        terms = [self.visit(term) for term in node.terms]
        return and_(*terms) if node.op == LogicalOperator.and_ else or_(*terms)

    def visit_value_path(self, node: ValuePath) -> Condition:
        attr, sub = _name(node.attr_path)
        if self.within is not None or attr != "emails" or sub is not None:
            raise InvalidFilterException(detail=f"cannot filter on {node.attr_path}[…]")
        return UserFilter(within="emails").visit(node.val_filter)


def user_condition(tree: FilterNode) -> Condition:
    """The condition a parsed filter means, or ``InvalidFilterException``."""
    return UserFilter().visit(tree)
