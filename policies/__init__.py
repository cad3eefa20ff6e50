"""Contract-wide rules as small pure functions over plain data (STYLE.md §4).

Nothing here imports flask, sqlalchemy or redis; callers pass what a rule needs, ``now``
included, and act on the returned decision.
"""
