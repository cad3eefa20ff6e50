"""Contracts (domain, DESIGN.md "Inside idp/"): add, the 2FA setting (T1/T3), the access
route (A1), line numbers (A2) and Active Directory connections (D1).

Every function that changes something takes the ``Actor`` first, writes its audit event and
raises from ``idp.errors``."""
