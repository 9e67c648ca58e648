# moto's S3 (and other) emulation from PyPI, for hosts that reach no image registry
# (scripts/local-base-images.sh). Like motoserver/moto: listens on $MOTO_PORT (5000).
ARG BASE_IMAGE=localhost/upstage-assets/debian-py311:bookworm
FROM ${BASE_IMAGE}
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/moto \
    && /opt/moto/bin/pip install 'moto[server]==5.2.5' \
    && useradd --system --uid 10002 --no-create-home moto
ENV MOTO_PORT=5000
USER 10002:10002
EXPOSE 5000
CMD ["/bin/sh", "-c", "exec /opt/moto/bin/moto_server -H 0.0.0.0 -p \"$MOTO_PORT\""]
