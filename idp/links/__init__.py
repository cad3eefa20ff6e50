"""Mailed links (SPEC Links, X4): one surface for every link purpose.

- ``registry.py`` maps each purpose to its handler, one module per purpose (``unlock.py``,
  ``reset.py``), on the base in ``handler.py``;
- ``views.py`` is the blueprint: ``GET /links/<token>`` shows the purpose's confirm page and
  changes nothing (mail scanners open links), ``POST`` uses the link.

The link rows (create, find, consume; stored hashed) are domain: ``idp/users/links.py``,
which the domain functions that mail a link (lock, reset) call. The rules (14 days, purpose,
account state, single use) are ``policies/links.py``.
"""
