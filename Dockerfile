# salesync: one image for every role (web, worker, beat, flower, migrate, token admin).
# The role is chosen by the command; the default is the web API under gunicorn.

# --- build: install the project and its dependencies into a virtualenv --------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Only what pyproject.toml packages; .dockerignore keeps the rest out of the context.
COPY pyproject.toml README.md celeryconfig.py ./
COPY domain ./domain
COPY config ./config
COPY postgres ./postgres
COPY redis_queue ./redis_queue
COPY recovery ./recovery
COPY web ./web
COPY worker ./worker
COPY cli ./cli
# The till serves the JS client through a symlink into clients/js: the file must be there.
COPY clients/js/salesync-client.js ./clients/js/salesync-client.js
RUN pip install .

# --- runtime ------------------------------------------------------------------------------
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

COPY --from=build /opt/venv /opt/venv

# Never run as root: a fixed, unprivileged user owning nothing but its home.
RUN groupadd --system --gid 10001 salesync \
 && useradd --system --uid 10001 --gid salesync --home-dir /home/salesync --create-home \
        --shell /usr/sbin/nologin salesync
USER salesync
WORKDIR /home/salesync

EXPOSE 8000

# DATABASE_URL and REDIS_URL must be set (see docker-compose.yml).
CMD ["gunicorn", "--config", "python:web.gunicorn_conf", "--bind", "0.0.0.0:8000", "--workers", "2", "--access-logfile", "-", "web.app:create_app()"]
