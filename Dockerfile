# syntax=docker/dockerfile:1
# The gateway's container image: the single executable from `deno compile` on distroless, as a
# non-root user. Multi-arch without emulation: the build stage runs on the builder's own
# platform and compiles for the target's (`deno compile --target`); the final stage only copies.
#   docker build -t prom-aggregation-gateway .
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg COMMIT=$(git rev-parse HEAD) --build-arg VERSION=0.1.0 -t IMAGE --push .
#   docker run --read-only -p 8080:8080 -p 8888:8888 prom-aggregation-gateway
FROM --platform=$BUILDPLATFORM denoland/deno:2.9.6 AS build
WORKDIR /src
COPY deno.json deno.lock main.ts ./
COPY lib ./lib
COPY scripts/build_info.ts ./scripts/
# The commit the image is built from, into lib/core/build_info.json (no edit of source).
ARG COMMIT=""
RUN if [ -n "$COMMIT" ]; then \
      deno run --allow-write=lib/core/build_info.json scripts/build_info.ts "$COMMIT"; \
    fi
ARG TARGETARCH
RUN case "${TARGETARCH:-amd64}" in \
      amd64) target=x86_64-unknown-linux-gnu ;; \
      arm64) target=aarch64-unknown-linux-gnu ;; \
      *) echo "no deno compile target for $TARGETARCH" >&2; exit 1 ;; \
    esac \
 && deno compile -P=gateway --target "$target" -o dist/prom-aggregation-gateway main.ts \
 && mkdir -p /state

# The compiled binary links against glibc; distroless/cc has it and nothing else (no shell).
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=""
ARG COMMIT=""
ARG CREATED=""
ARG SOURCE=""
LABEL org.opencontainers.image.title="prom-aggregation-gateway" \
      org.opencontainers.image.description="An aggregating push gateway for Prometheus" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.documentation="${SOURCE}/blob/v${VERSION}/docs/install.md"
COPY --from=build /src/dist/prom-aggregation-gateway /usr/local/bin/prom-aggregation-gateway
# A folder the nonroot user (65532) owns, for the snapshot: mount a volume here and set
# PAG_PERSISTENCEFILE=/var/lib/pag/aggregate.prom to keep the aggregate across restarts.
COPY --from=build --chown=65532:65532 /state /var/lib/pag
USER 65532:65532
EXPOSE 8080 8888
ENTRYPOINT ["/usr/local/bin/prom-aggregation-gateway"]
CMD ["start"]
