"""Two-step verification (L3–L6, X1, X2): factors, codes, recovery and remembered browsers."""
