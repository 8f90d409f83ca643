# lgmsd container image: build stage on Debian 12 with the project's own Makefile, runtime
# stage with only the binary, its shared libraries, the default model and config.
FROM debian:bookworm-slim AS build
WORKDIR /src
COPY . .
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends make \
 && make deps-build \
 && make BUILD=build/image PREFIX=/usr build/image/lgmsd \
 && build/image/lgmsd serve --print-config --model default=/usr/share/lgmsd/models/lgmsnet-phantom.lgms \
    > build/image/lgmsd.ini \
 && sh docker/deb/depends.sh build/image/lgmsd | tr -d ',' > build/image/runtime-packages

FROM debian:bookworm-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="lgmsd" \
      org.opencontainers.image.description="LGMSNet medical image segmentation over HTTP on CPUs (demo model: not for clinical use)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /src/build/image/runtime-packages /tmp/runtime-packages
# hadolint ignore=DL3008,SC2046
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(cat /tmp/runtime-packages) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
 && useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin lgmsd
COPY --from=build /src/build/image/lgmsd /usr/bin/lgmsd
COPY models/lgmsnet-phantom.lgms /usr/share/lgmsd/models/lgmsnet-phantom.lgms
COPY --from=build /src/build/image/lgmsd.ini /etc/lgmsd/lgmsd.ini
# inside a container the service listens on all interfaces; outside, the default stays 127.0.0.1.
# OPENBLAS_NUM_THREADS=1: lgmsd runs OpenBLAS single-threaded; without it OpenBLAS starts an
# idle pool of one thread per core that spins beside the engine's own threads.
ENV LGMSD_CONFIG=/etc/lgmsd/lgmsd.ini \
    LGMSD_HOST=0.0.0.0 \
    LGMSD_PORT=8080 \
    OPENBLAS_NUM_THREADS=1
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/bin/lgmsd", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/lgmsd"]
CMD ["serve"]
