# The portal's one image: web (the default command), Celery worker and beat (see docker-compose.yml).
FROM python:3.11-slim

ARG UV_VERSION=0.13.9
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    STATIC_ROOT=/app/staticfiles \
    FORWARDED_ALLOW_IPS=127.0.0.1

RUN pip install --no-cache-dir "uv==${UV_VERSION}"
# Debian's chromium prints the run reports as PDF (upgrades/report_pdf.py); no browser download.
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies first, in a layer of their own that survives changes to the code.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-cache --python /usr/local/bin/python3

COPY . .
# Hashed, compressed static files, built once here. Settings need every variable to import;
# none of these values reaches the running container.
RUN DEBUG=0 \
    SECRET_KEY=collectstatic-only-not-a-secret \
    FIELD_ENCRYPTION_KEYS=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    DATABASE_URL=postgres://unused@localhost/unused \
    REDIS_URL=redis://localhost:6379/0 \
    ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput

RUN useradd --system --uid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin portal
USER portal

EXPOSE 8000
# WEB_PROCESSES uvicorn workers (one per core by default) under gunicorn: portal/web.py. Client
# addresses come from X-Forwarded-For only when the proxy's address is in FORWARDED_ALLOW_IPS.
CMD ["python", "-m", "portal.web", "--bind", "0.0.0.0:8000"]
