"""U1, U2: the account menu at ``/account``, one module per item; every view is guarded by
``@menu_item(item)`` (:mod:`idp.account_menu.guard`). Its sign-in is the login transaction's
(``/account/login``, ``Target.ACCOUNT_MENU``, in idp/login/views.py)."""

from __future__ import annotations

from idp.account_menu import ad_setting as ad_setting
from idp.account_menu import cancellation as cancellation
from idp.account_menu import contract_information as contract_information
from idp.account_menu import email as email
from idp.account_menu import login_method as login_method
from idp.account_menu import menu as menu
from idp.account_menu import password as password
from idp.account_menu import plan as plan
from idp.account_menu import route as route
from idp.account_menu import sessions as sessions
from idp.account_menu import two_factor as two_factor
from idp.account_menu.guard import bp as bp

__all__ = ["bp"]
