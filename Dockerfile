# A raftkv node (issue 5): `docker compose up` runs the seed's three-node
# cluster from docker-compose.yml, docker-compose.5.yml the five-node one.
# The node takes its cluster from NODE_ID, PEER_IDS and PORT (see
# src/server/config.h): HTTP on PORT, peers on PORT+1000, Redis protocol on
# PORT+3379. Data goes to /var/lib/raftkv/data/node<ID>, a volume.

# Build with the same Debian packages as a developer's machine. libc6-dev
# is only a Recommends of gcc, which install-deps.sh's
# --no-install-recommends leaves out on a bare image.
FROM debian:bookworm-slim AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
       --no-install-recommends libc6-dev \
    && scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN make -j"$(nproc)" build/raftkv build/raftkv-cli

# Run with the shared libraries only.
FROM debian:bookworm-slim
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
       --no-install-recommends liblmdb0 libuv1 libhttp-parser2.9 libjansson4 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/raftkv /src/build/raftkv-cli /usr/local/bin/
WORKDIR /var/lib/raftkv
VOLUME /var/lib/raftkv
ENV PORT=3000
EXPOSE 3000 4000 6379
# raftkv is PID 1 and stops cleanly on the SIGTERM of `docker stop`.
ENTRYPOINT ["raftkv"]
