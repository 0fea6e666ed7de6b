# syntax=docker/dockerfile:1
# Hookbridge app image. The Supervisor builds it from this file alone (no build.yaml), passing
# BUILD_VERSION (config.yaml's version) and BUILD_ARCH (aarch64 or amd64) and building with BuildKit
# for the target platform. addon/manifest's tests parse this file: keep them green when you change it.

# The Home Assistant base image (Alpine with bashio, curl, s6-overlay), pinned to one release.
ARG BUILD_FROM=ghcr.io/home-assistant/base:3.23-2026.05.0

# Build stage. It runs on the build host's own platform and cross-compiles (pure Go, CGO off), so an
# aarch64 image builds at full speed on an amd64 machine instead of under emulation.
FROM --platform=$BUILDPLATFORM golang:1.26.8-alpine AS build
ARG TARGETOS=linux
ARG TARGETARCH
ARG BUILD_VERSION=dev
# Use the pinned toolchain above, never one fetched because go.mod asks for a newer one.
ENV GOTOOLCHAIN=local
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The same script CI runs; see scripts/build.
RUN GOOS="$TARGETOS" GOARCH="$TARGETARCH" sh scripts/build /out/hookbridge "$BUILD_VERSION"

# Final stage: the base image plus one static binary.
FROM ${BUILD_FROM}
ARG BUILD_VERSION=dev
ARG BUILD_ARCH
LABEL \
    io.hass.version="${BUILD_VERSION}" \
    io.hass.type="app" \
    io.hass.arch="${BUILD_ARCH}" \
    io.hass.name="Hookbridge" \
    org.opencontainers.image.title="Hookbridge" \
    org.opencontainers.image.source="https://github.com/hookbridge/hookbridge"

COPY --from=build /out/hookbridge /usr/bin/hookbridge

# Health is the bridge's own /healthz on the admin listener (loopback is always allowed there). It is
# liveness: 200 while the process serves, even while an outside broker is down (its state is in the
# body, and /readyz answers 503 then), since a restart cannot bring a broker back. The Supervisor watches Docker's health events and restarts
# an unhealthy app when the user has its watchdog on; this replaces config.yaml's obsolete watchdog
# key. curl is part of the Home Assistant base image (it installs bash, curl, jq, tzdata and
# ca-certificates), so nothing is added for it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD curl --fail --silent --show-error --max-time 4 --output /dev/null http://127.0.0.1:8099/healthz || exit 1

# No USER line: the bridge runs as root inside its container, on purpose. The Supervisor bind-mounts
# /data from the host owned by root and, before every start, rewrites /data/options.json as root with
# mode 0600; the bridge must read that file and keep its state (bbolt store, pseudonym key) in /data.
# Under a non-root USER it could neither read its options nor write its store, and would not start
# (other apps met exactly this: supervisor#2158). A non-root user needs a root step on every start
# (chown /data, then drop privileges): a wrapper script as entrypoint instead of the binary, or the
# binary dropping privileges itself; config.yaml has no key to run an app as another user. The
# exposure is kept small instead: unprivileged ports only, no host network, no added capabilities or
# devices, the default AppArmor profile, the app config folder mapped read-only, and one process (the
# base image's s6 init is replaced by the binary; Docker's init, config.yaml's default, is PID 1).
ENTRYPOINT ["/usr/bin/hookbridge"]
CMD ["serve"]
