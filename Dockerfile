# Multi-stage build of the `reviews` server and the `seed` CLI.
#   docker build -t reviews .
#   docker run -p 3000:3000 -v reviews-data:/data reviews

FROM rust:1-bookworm AS build
WORKDIR /src
# Dependencies first, in their own layer: rebuilt only when the manifests change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src seed examples \
    && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && echo 'fn main() {}' > seed/main.rs && echo 'fn main() {}' > examples/bare_hyper.rs \
    && cargo build --release --bins \
    && rm -rf src seed examples
COPY src src
COPY static static
COPY seed seed
COPY examples examples
RUN touch src/main.rs src/lib.rs seed/main.rs && cargo build --release --bins

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data --create-home reviews
COPY --from=build /src/target/release/reviews /src/target/release/seed /usr/local/bin/
USER reviews
WORKDIR /data
ENV REVIEWS_LISTEN=0.0.0.0:3000 \
    REVIEWS_DATA_DIR=/data \
    RUST_LOG=info
VOLUME /data
EXPOSE 3000
# No curl in the slim image: bash's /dev/tcp asks /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/3000 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["reviews"]
