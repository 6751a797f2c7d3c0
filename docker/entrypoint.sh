#!/bin/sh
# The image's entry point: the ./vitstream launcher's JVM settings without its build step (the jar is prebuilt).
# JAVA_OPTS (not VITSTREAM_*: the services read every VITSTREAM_* variable as a setting) tunes the JVM.
set -eu
exec java ${JAVA_OPTS:-} -Dai.djl.offline=true -Dvitstream.home=/opt/vitstream \
  -Dorg.slf4j.simpleLogger.defaultLogLevel="${LOG_LEVEL:-info}" \
  -Dorg.slf4j.simpleLogger.log.ai.djl.util.cuda.CudaUtils=error \
  -jar /opt/vitstream/vitstream.jar "$@"
