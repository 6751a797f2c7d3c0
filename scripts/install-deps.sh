#!/usr/bin/env bash
# Installs what vitstream needs beyond Java 17 and Maven, from Debian's packages. Idempotent; quiet when all is there.
#   dataset-fashion-mnist  the data set (/usr/share/datasets/fashion-mnist)
set -euo pipefail

packages=()
[[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]] || packages+=(dataset-fashion-mnist)

if ((${#packages[@]} == 0)); then
  exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-deps: need root (or sudo) to install: ${packages[*]}" >&2; exit 1
  fi
fi
echo "install-deps: installing ${packages[*]} (Debian packages)..." >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}" >/dev/null
