# The provider under gunicorn. Configure with IDP_* variables (see README.md); mount the keys
# folder (IDP_KEYS_DIR) from a secret store shared by all nodes.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 IDP_INSTANCE_DIR=/var/lib/idp \
    IDP_KEYS_DIR=/var/lib/idp/keys
WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY idp ./idp
COPY policies ./policies
COPY brokers ./brokers
COPY templates ./templates
COPY static ./static
RUN pip install --no-cache-dir . && useradd --system --home /var/lib/idp idp \
    && mkdir -p /var/lib/idp && chown idp /var/lib/idp
USER idp
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request;urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["sh", "-c", "idp init && exec idp serve --host 0.0.0.0 --port 8000 --workers ${WEB_CONCURRENCY:-2}"]
