# Build stage: compile the release binary.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY config ./config
RUN cargo build --release --locked --bin identity-os

# Runtime stage: a small image with a non-root user and a /data volume.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data identity \
    && mkdir -p /data /etc/identity-os \
    && chown identity /data
COPY --from=build /src/target/release/identity-os /usr/local/bin/identity-os
COPY config/default.toml /etc/identity-os/config.toml
USER identity
WORKDIR /data
ENV IDENTITY_OS_BIND=0.0.0.0:8000 \
    IDENTITY_OS_SQLITE_PATH=/data/identity-os.db \
    IDENTITY_OS_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/health || exit 1
ENTRYPOINT ["identity-os"]
CMD ["serve", "--config", "/etc/identity-os/config.toml"]
