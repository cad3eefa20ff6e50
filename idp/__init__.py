"""The WORKSDRIVE identity provider: an OpenID Connect provider (Flask + authlib).

The application is built by ``idp.factory.create_app``. This package's own module imports
nothing, so that ``idp --help`` and the pure parts load without Flask and SQLAlchemy.
"""
