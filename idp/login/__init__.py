"""The login transaction (DESIGN.md): start → identify → policies → second factor → finish,
one module per step, state in the ephemeral store keyed by an opaque id."""
