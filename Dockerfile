# Multi-stage build of the `reviews` server and the `seed` CLI.
#   docker build -t reviews .
#   docker run -p 3000:3000 -v reviews-data:/data reviews
# An embedded-store-only image, without the MongoDB driver (faster to build):
#   docker build --build-arg CARGO_FEATURES=--no-default-features -t reviews:embedded .

FROM rust:1-bookworm AS build
ARG CARGO_FEATURES=
# Release binaries without symbols or debug info: ~12 MB instead of ~75 MB.
ENV CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_STRIP=symbols
WORKDIR /src
# Dependencies first, in their own layer: rebuilt only when the manifests
# change. --locked: exactly the versions of Cargo.lock, or fail.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src seed examples \
    && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && echo 'fn main() {}' > seed/main.rs && echo 'fn main() {}' > examples/bare_hyper.rs \
    && cargo build --release --locked --bins $CARGO_FEATURES \
    && rm -rf src seed examples
COPY static static
COPY src src
COPY seed seed
COPY examples examples
RUN touch src/main.rs src/lib.rs seed/main.rs \
    && cargo build --release --locked --bins $CARGO_FEATURES

FROM debian:bookworm-slim
# A user and group of their own, 10001 both; /data belongs to them and holds
# nothing else (no home-directory dotfiles). A folder bind-mounted over
# /data must be writable by uid 10001 (`chown 10001:10001 DIR`).
RUN groupadd --gid 10001 reviews \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /data \
       --shell /usr/sbin/nologin reviews \
    && mkdir /data && chown 10001:10001 /data
COPY --from=build /src/target/release/reviews /src/target/release/seed /usr/local/bin/
USER reviews
WORKDIR /data
# No RUST_LOG here: the service's default (info, access log off) applies;
# set RUST_LOG=info,reviews::access=info on a container to log every request.
ENV REVIEWS_LISTEN=0.0.0.0:3000 \
    REVIEWS_DATA_DIR=/data
VOLUME /data
EXPOSE 3000
# Healthy = ready: /readyz answers 200 once the store answers. The address
# is the one the service was told — `--listen ADDR` or `--listen=ADDR` among
# its arguments (PID 1's), else REVIEWS_LISTEN — so a container told to
# listen elsewhere is still checked where it serves. No curl in the slim
# image: bash's /dev/tcp asks, on loopback when it listens on every address.
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["bash", "-c", "addr=${REVIEWS_LISTEN:-127.0.0.1:3000}; mapfile -d '' args </proc/1/cmdline; for i in \"${!args[@]}\"; do case ${args[i]} in --listen) addr=${args[i+1]};; --listen=*) addr=${args[i]#--listen=};; esac; done; port=${addr##*:}; host=${addr%:*}; host=${host#[}; host=${host%]}; case $host in 0.0.0.0|::|'') host=127.0.0.1;; esac; exec 3<>/dev/tcp/$host/$port && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["reviews"]
