"""Accounts: password hashing, lockout, mailed links, reset and unlock."""
