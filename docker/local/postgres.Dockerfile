# PostgreSQL 15 from Debian bookworm, for hosts that reach no image registry
# (scripts/local-base-images.sh). Same contract as the official image: POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB, data in /var/lib/postgresql/data, pg_isready on PATH.
ARG BASE_IMAGE=localhost/upstage-assets/debian-py311:bookworm
FROM ${BASE_IMAGE}
# uid 999 as in the official image; no cluster from the package: the entrypoint initialises the volume.
RUN groupadd --system --gid 999 postgres \
    && useradd --system --uid 999 --gid postgres --home-dir /var/lib/postgresql --shell /bin/sh postgres \
    && mkdir -p /etc/postgresql-common \
    && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive UCF_FORCE_CONFFOLD=1 apt-get install -y --no-install-recommends postgresql-15=15.* \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
    && chmod 0700 /var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
USER 999:999
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
