#!/usr/bin/env bash
# The test command: installs what the tests need, then builds and runs every test (unit and integration, on a real
# Kafka broker where a test needs one). Usage: scripts/run-tests.sh [extra maven args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/install-deps.sh"
cd "$ROOT"
exec mvn -B -ntp install "$@"
