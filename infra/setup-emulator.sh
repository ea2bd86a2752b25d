#!/usr/bin/env bash
# Installs the local AWS API emulator (moto's server) into the repository's
# own virtualenv, .venv/, if it is not there yet. The Rust tests start it on a
# free loopback port themselves (see shared/aws-emulator).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
moto_version="5.2.1"
if [ -x "$venv/bin/moto_server" ] && "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$moto_version')" 2>/dev/null; then
  exit 0
fi
echo "installing moto[server]==$moto_version into $venv" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$moto_version"
"$venv/bin/moto_server" --help >/dev/null
