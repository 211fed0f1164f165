# syntax=docker/dockerfile:1
# Build: the locked dependencies and the package into a virtualenv.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# The runtime lock alone first, so this layer is rebuilt only when the lock changes (`make lock` writes it).
COPY requirements/runtime.txt ./requirements/
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY app ./app
RUN /opt/venv/bin/pip install --no-deps . && /opt/venv/bin/pip check

# Run: the virtualenv, the migrations and the dataset; a non-root user; migrate, seed a new database, serve.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 territory
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/territory
COPY alembic.ini ./
COPY migrations ./migrations
COPY data ./data
ENV PATH=/opt/venv/bin:$PATH \
    TERRITORY_HOME=/srv/territory \
    PYTHONUNBUFFERED=1
USER territory
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
# DATABASE_URL must point at a PostGIS database (see compose.yaml). One server process per core the container
# may use (its cpuset; a --cpus quota is not seen): set TERRITORY_WORKERS to choose.
CMD ["territory", "up", "--host", "0.0.0.0", "--port", "8000"]
