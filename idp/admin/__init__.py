"""Administration: provisioning now, the admin console and API later."""
