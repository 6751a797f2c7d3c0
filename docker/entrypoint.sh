#!/bin/sh
# The image's entry point: the ./vitstream launcher's JVM settings without its build step (the jar is prebuilt).
# JAVA_OPTS (not VITSTREAM_*: the services read every VITSTREAM_* variable as a setting) tunes the JVM.
set -eu
# The collector per command, as the launcher picks it (docs/serving.md, "Performance settings"), unless JAVA_OPTS names one.
case "${1:-}" in
  demo | controller) GC=-XX:+UseG1GC ;;
  *) GC=-XX:+UseParallelGC ;;
esac
OPTS="${JAVA_OPTS:-}"
case "$OPTS" in
  *-XX:+Use*GC*) ;;
  *) OPTS="$OPTS $GC" ;;
esac
# Kafka's routine warnings only at error, connection failures at warn, as the launcher does (KAFKA_LOG_LEVEL).
exec java $OPTS -Dai.djl.offline=true -Dvitstream.home=/opt/vitstream \
  -Dorg.slf4j.simpleLogger.defaultLogLevel="${LOG_LEVEL:-info}" \
  -Dorg.slf4j.simpleLogger.log.ai.djl.util.cuda.CudaUtils=error \
  -Dorg.slf4j.simpleLogger.log.org.apache.kafka="${KAFKA_LOG_LEVEL:-error}" \
  -Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients.NetworkClient="${KAFKA_LOG_LEVEL:-warn}" \
  -jar /opt/vitstream/vitstream.jar "$@"
