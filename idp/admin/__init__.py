"""The administrators' surfaces (G1–G8): the admin API (``api/``) now, the console next. Thin
views over the domain packages; every operation checks this caller, this target and this
contract on the server (G8)."""
