# syntax=docker/dockerfile:1
#
# touchline's production image: the `touchline` command, run as a non-root user.
#
#   docker build -t touchline .
#   docker run --rm touchline --help
#
# docker-compose.yml builds it and runs `touchline db upgrade`, `worker`, `api`
# and `adapters` from it against Kafka and PostgreSQL.
FROM python:3.11-slim

LABEL org.opencontainers.image.title="touchline" \
      org.opencontainers.image.description="Event-sourced customer-interaction backbone" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The user the processes run as, and the one directory it may write: its working
# directory, where relative paths (touchline's data_dir, Faust's table state) land.
RUN groupadd --system --gid 10001 touchline \
 && useradd --system --uid 10001 --gid touchline --no-create-home \
      --home-dir /var/lib/touchline --shell /usr/sbin/nologin touchline \
 && install -d -o touchline -g touchline -m 0750 /var/lib/touchline

WORKDIR /app

# The declared dependencies first, in a layer of their own, read from
# pyproject.toml itself: editing the code does not reinstall them, only a change
# to the dependency list does. Every one of them ships manylinux wheels for
# CPython 3.11 on x86_64, so the slim image needs no compiler there.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install --requirement /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# Then touchline itself, installed *editable* from /app on purpose: the Alembic
# environment lives in migrations/ at the repository root, not inside the
# package, and touchline/projections/store.py finds it at
# Path(__file__).resolve().parents[2] / "migrations". A regular (wheel) install
# would put the package in site-packages, where that path points at nothing.
# Editable, the code imports from /app/touchline, so /app/migrations sits right
# beside it. /app stays owned by root, read-only to the touchline user; the
# bytecode is compiled here, at build time, because the user cannot write it.
COPY . .
RUN pip install --no-deps --editable . \
 && pip check \
 && python -m compileall -q touchline migrations \
 && python -c "from touchline.projections.store import MIGRATIONS as m; assert (m / 'env.py').is_file(), m" \
 && touchline --help > /dev/null

WORKDIR /var/lib/touchline
ENV TOUCHLINE_DATA_DIR=/var/lib/touchline
USER touchline:touchline

ENTRYPOINT ["touchline"]
CMD ["--help"]
