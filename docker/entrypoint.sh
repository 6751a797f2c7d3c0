#!/bin/sh
# The image's entry point: the ./vitstream launcher's JVM settings without its build step (the jar is prebuilt).
# JAVA_OPTS (not VITSTREAM_*: the services read every VITSTREAM_* variable as a setting) tunes the JVM.
set -eu

# VITSTREAM_<NAME>_FILE=/run/secrets/x sets VITSTREAM_<NAME> to the file's content (Docker secrets, e.g. the
# controller's admin token), and is removed: the services refuse settings they do not know.
for var in $(env | sed -n 's/^\(VITSTREAM_[A-Z0-9_]*\)_FILE=.*/\1/p'); do
  file=$(printenv "${var}_FILE")
  if [ ! -r "$file" ]; then
    echo "error: ${var}_FILE=$file is not a readable file" >&2
    exit 2
  fi
  export "$var=$(cat "$file")"
  unset "${var}_FILE"
done

exec java ${JAVA_OPTS:-} -Dai.djl.offline=true -Dvitstream.home=/opt/vitstream \
  -Dorg.slf4j.simpleLogger.defaultLogLevel="${LOG_LEVEL:-info}" \
  -Dorg.slf4j.simpleLogger.log.ai.djl.util.cuda.CudaUtils=error \
  -jar /opt/vitstream/vitstream.jar "$@"
