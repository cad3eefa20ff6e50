"""Adding users (by administrators and the CLI now; by invitation L10/G3 later)."""

from __future__ import annotations

from idp import audit
from idp import extensions
from idp.actor import Actor
from idp.contracts.contract import get_contract
from idp.errors import ProvisioningError
from idp.models import User
from idp.models import db
from idp.users.find import email_key
from idp.users.passwords import password_problems
from idp.vocabulary import LoginMethod
from idp.vocabulary import Role

MAX_EMAIL = 320


@audit.change("user_add")
def add_user(
    actor: Actor,
    contract_id: str,
    email: str,
    password: str | None,
    *,
    name: str = "",
    role: str = Role.USER,
    method: str = LoginMethod.PASSWORD,
    locale: str = "ja",
) -> User:
    """Add a user to the contract: one contractor per contract, who cannot use AD (M3); a
    ``password`` user needs a password that meets P2."""
    get_contract(contract_id)
    if "@" not in email or len(email) > MAX_EMAIL:
        raise ProvisioningError("not an email address")
    if db.session.query(User).filter_by(email_key=email_key(email)).first():
        raise ProvisioningError("this email is already registered", "email_taken")
    if role == Role.CONTRACTOR and method == LoginMethod.AD:
        raise ProvisioningError("M3: the contractor cannot use Active Directory", "M3")
    if method not in set(LoginMethod):
        raise ProvisioningError(f"unknown login method {method}")
    if role not in set(Role):
        raise ProvisioningError(f"unknown role {role}")
    if (
        role == Role.CONTRACTOR
        and db.session.query(User).filter_by(contract_id=contract_id, role=Role.CONTRACTOR).first()
    ):
        raise ProvisioningError("the contract already has a contractor", "contractor_exists")
    password_hash = None
    if method == LoginMethod.PASSWORD:
        if password is None:
            raise ProvisioningError("a password user needs a password")
        problems = password_problems(password, email)
        if problems:
            raise ProvisioningError("password rule (P2) not met: " + ", ".join(problems), "P2")
        password_hash = extensions.passwords().hash(password)
    user = User(
        contract_id=contract_id,
        email=email.strip(),
        email_key=email_key(email),
        name=name,
        role=role,
        login_method=method,
        locale=locale,
        password_hash=password_hash,
        email_verified=True,
    )
    db.session.add(user)
    db.session.commit()
    audit.record(
        "user_add",
        "ok",
        None,
        user_id=user.id,
        contract_id=contract_id,
        actor=actor,
        details={"role": role, "method": method},
    )
    return user
