# Builds the single executable with `deno compile` and ships it on a minimal base.
#   docker build -t prom-aggregation-gateway .
#   docker run -p 8080:8080 -p 8888:8888 prom-aggregation-gateway
FROM denoland/deno:2.9.6 AS build
WORKDIR /src
COPY deno.json deno.lock main.ts ./
COPY lib ./lib
ARG COMMIT=unknown
RUN sed -i "s/^export const COMMIT = \"unknown\";/export const COMMIT = \"${COMMIT}\";/" lib/core/version.ts \
 && grep -q "^export const COMMIT = \"${COMMIT}\";" lib/core/version.ts \
 && deno task compile \
 && mkdir -p /state

# The compiled binary links against glibc; distroless/cc has it and nothing else.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/dist/prom-aggregation-gateway /usr/local/bin/prom-aggregation-gateway
# A folder the nonroot user (65532) owns, for the snapshot: mount a volume here and set
# PAG_PERSISTENCEFILE=/var/lib/pag/aggregate.prom to keep the aggregate across restarts.
COPY --from=build --chown=65532:65532 /state /var/lib/pag
EXPOSE 8080 8888
ENTRYPOINT ["/usr/local/bin/prom-aggregation-gateway"]
CMD ["start"]
