#!/usr/bin/env bash
# Makes sure MuJoCo can render offscreen: probes EGL then OSMesa (worldmodels.envs.gl); when neither
# works, installs the Debian packages for Mesa's software renderers (needs root or sudo), then probes again.
set -euo pipefail
py=${1:-python3}
if "$py" -m worldmodels.envs.gl --quiet; then exit 0; fi
pkgs="libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6"
echo "MuJoCo cannot render; installing: $pkgs" >&2
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq </dev/null >/dev/null
$sudo apt-get install -y -qq --no-install-recommends $pkgs </dev/null >/dev/null
"$py" -m worldmodels.envs.gl
