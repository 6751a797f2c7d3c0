#!/bin/sh
# The image's entry point: the ./vitstream launcher's JVM settings without its build step (the jar is prebuilt).
# JAVA_OPTS (not VITSTREAM_*: the services read every VITSTREAM_* variable as a setting) tunes the JVM.
set -eu
# The collector per command, as the launcher picks it (README, "Performance settings"), unless JAVA_OPTS names one.
case "${1:-}" in
  demo | controller) GC=-XX:+UseG1GC ;;
  *) GC=-XX:+UseParallelGC ;;
esac
OPTS="${JAVA_OPTS:-}"
case "$OPTS" in
  *-XX:+Use*GC*) ;;
  *) OPTS="$OPTS $GC" ;;
esac
exec java $OPTS -Dai.djl.offline=true -Dvitstream.home=/opt/vitstream \
  -Dorg.slf4j.simpleLogger.defaultLogLevel="${LOG_LEVEL:-info}" \
  -Dorg.slf4j.simpleLogger.log.ai.djl.util.cuda.CudaUtils=error \
  -jar /opt/vitstream/vitstream.jar "$@"
