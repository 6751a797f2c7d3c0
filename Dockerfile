# syntax=docker/dockerfile:1
# One image for every vitstream service (worker, controller, one-shot tools): the `./vitstream` CLI with its runtime
# dependencies (ONNX Runtime and DJL's CPU PyTorch come as Maven jars: nothing is downloaded at run time), the committed models and
# Debian's Fashion-MNIST (the controller fine-tunes pruned models on it). The compose file picks the subcommand.
#   docker build -t vitstream:local .

FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
COPY pom.xml ./
COPY common/ common/
COPY test-kit/ test-kit/
COPY inference-service/ inference-service/
COPY pruning-controller/ pruning-controller/
COPY cli/ cli/
# The Maven cache survives between builds (BuildKit); tests run in CI, not in the image build.
RUN --mount=type=cache,target=/root/.m2 mvn -B -ntp -q -DskipTests -pl cli -am package

FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        openjdk-17-jre-headless curl ca-certificates dataset-fashion-mnist \
    && rm -rf /var/lib/apt/lists/*
# Runs as any uid (compose sets CONTAINER_UID so mounted secret files stay readable): what the process writes (DJL's
# native-library cache, manifest.sig next to a model it publishes, controller state) lives in world-writable dirs.
RUN useradd --system --uid 10001 --user-group --home-dir /opt/vitstream vitstream \
    && mkdir -p /opt/vitstream/lib /var/lib/vitstream/controller /var/cache/vitstream \
    && chmod 1777 /var/lib/vitstream /var/lib/vitstream/controller /var/cache/vitstream
WORKDIR /opt/vitstream
COPY --from=build /src/cli/target/lib/ lib/
COPY --from=build /src/cli/target/vitstream.jar vitstream.jar
COPY models/ models/
COPY docker/entrypoint.sh /usr/local/bin/vitstream
RUN chmod -R a+rwX models && chmod 0755 /usr/local/bin/vitstream
ENV HOME=/var/lib/vitstream \
    DJL_CACHE_DIR=/var/cache/vitstream/djl \
    JAVA_OPTS="-XX:MaxRAMPercentage=75" \
    MALLOC_MMAP_THRESHOLD_=268435456 \
    MALLOC_TRIM_THRESHOLD_=1073741824 \
    MALLOC_TOP_PAD_=268435456
USER 10001
EXPOSE 9400
ENTRYPOINT ["/usr/local/bin/vitstream"]
CMD ["--help"]
