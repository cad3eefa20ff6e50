"""Users (domain, DESIGN.md "Inside idp/"): add and find, passwords (P2, argon2id), lockout
(K1, K2, T2 reset of the second factor), password reset (K3), mailed links (SPEC Links, X4)
and upstream identities (L7, M5).

Every function that changes something takes the ``Actor`` first, writes its audit event and
raises from ``idp.errors``; views and commands only call these functions."""
