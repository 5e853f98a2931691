# syntax=docker/dockerfile:1
# Build: cgo is required (DuckDB is linked statically into the binary).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/csvapi ./cmd/csvapi

# Run: a slim glibc image; the binary needs only libstdc++ at run time.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libstdc++6 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data csvapi && mkdir -p /data && chown csvapi /data
COPY --from=build /out/csvapi /usr/local/bin/csvapi
USER csvapi
WORKDIR /data
ENV CSVAPI_ADDR=0.0.0.0:8001 CSVAPI_CACHE_DIR=/data
EXPOSE 8001
VOLUME /data
ENTRYPOINT ["/usr/local/bin/csvapi"]
CMD ["serve"]
