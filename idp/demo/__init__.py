"""Demo relying party ("WORKSDRIVE" storage frontend) used by make demo and browser tests."""
