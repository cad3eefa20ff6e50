# The provider under gunicorn (README.md, "Container image"). Configure it with IDP_*
# variables at run time (README.md, "Configuration"); nothing secret is in the image. Mount
# the keys folder (IDP_KEYS_DIR) from a secret store shared by all nodes, owned by uid 10001.
# Linted by `make lint` (hadolint).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    IDP_INSTANCE_DIR=/var/lib/idp \
    IDP_KEYS_DIR=/var/lib/idp/keys

WORKDIR /app

# The dependencies, alone in their layer: only from the hashed locks, as `make install` does
# (pip refuses any file whose hash is not in the lock), by the locked pip.
COPY requirements/pip.txt requirements/base.txt requirements/
RUN pip install --no-cache-dir --require-hashes -r requirements/pip.txt \
    && pip install --no-cache-dir --require-hashes -r requirements/base.txt

# The project without dependencies, in place (like `make install`): the app finds templates/
# and static/ beside idp/. The .mo catalogues are compiled now, as root, because /app stays
# read-only for the provider's user.
COPY setup.cfg pyproject.toml README.md ./
COPY policies ./policies
COPY brokers ./brokers
COPY templates ./templates
COPY static ./static
COPY idp ./idp
RUN pip install --no-cache-dir --no-deps -e . \
    && python -c "from idp.i18n import compile_catalogs; compile_catalogs()" \
    && groupadd --system --gid 10001 idp \
    && useradd --system --uid 10001 --gid idp --home-dir /var/lib/idp --no-create-home \
       --shell /usr/sbin/nologin idp \
    && install -d -m 0700 -o idp -g idp /var/lib/idp /var/lib/idp/keys

USER 10001:10001
EXPOSE 8000

# Liveness only (/healthz): a load balancer asks /readyz (database and store) itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# `idp init` migrates the schema and creates the first signing keys when there are none.
# `idp serve` runs sync workers, meant to be behind a buffering proxy (docker-compose.yml:
# nginx with deploy/nginx/idp.conf); to publish the container's port directly, add
# `--worker-class gthread`.
CMD ["sh", "-c", "idp init && exec idp serve --host 0.0.0.0 --port 8000 --workers ${WEB_CONCURRENCY:-2}"]
