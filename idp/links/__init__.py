"""Mailed links (SPEC Links, X4): one surface for every link purpose.

- ``tokens.py`` stores, finds and uses the link rows (no request code; the domain functions
  that send a link import it, so this package's ``__init__`` imports nothing);
- ``registry.py`` maps each purpose to its handler, one module per purpose (``unlock.py``,
  ``reset.py``);
- ``views.py`` is the blueprint: ``GET /links/<token>`` shows the purpose's confirm page and
  changes nothing (mail scanners open links), ``POST`` uses the link.

The rules (14 days, purpose, account state, single use) are ``policies/links.py``.
"""
