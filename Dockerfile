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

# Then touchline itself, as a regular (non-editable) install: the Alembic
# environment ships inside the package (touchline/store/migrations), so the
# installed package migrates on its own. The bytecode is compiled here, at
# build time, because the touchline user cannot write site-packages.
COPY . /tmp/touchline-src
RUN pip install --no-deps /tmp/touchline-src \
 && rm -rf /tmp/touchline-src \
 && pip check \
 && python -c "from touchline.store.migrate import MIGRATIONS as m; assert (m / 'env.py').is_file(), m" \
 && touchline --help > /dev/null

WORKDIR /var/lib/touchline
ENV TOUCHLINE_DATA_DIR=/var/lib/touchline
USER touchline:touchline

ENTRYPOINT ["touchline"]
CMD ["--help"]
