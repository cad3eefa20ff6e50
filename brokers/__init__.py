"""Upstream identity providers (Google, Facebook, Microsoft, d account, ADFS, LDAP), each a
small module on ``brokers.base``. The modules arrive with the brokered-login issue."""
