#!/usr/bin/env bash
# Installs what vitstream needs beyond Java 17 and Maven, from Debian's packages. Idempotent; quiet when all is there.
#   dataset-fashion-mnist  the data set (/usr/share/datasets/fashion-mnist)
#   prometheus             the real Prometheus binary the dashboard test queries (prometheus, promtool)
#   docker-compose         validates docker-compose.yml without a Docker engine (`docker-compose config`)
set -euo pipefail

packages=()
[[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]] || packages+=(dataset-fashion-mnist)
command -v prometheus >/dev/null || packages+=(prometheus)
command -v docker-compose >/dev/null || packages+=(docker-compose)

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
# Packages with services (prometheus) must not start them here: the test starts its own Prometheus on free ports.
# policy-rc.d exits 101 ("action forbidden") for invoke-rc.d; only created when absent, removed afterwards.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod 755 "$policy" && created_policy=1
fi
trap 'if [[ $created_policy == 1 ]]; then $SUDO rm -f "$policy"; fi' EXIT
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
