#!/usr/bin/env bash
# Installs the deploy tools (the SAM CLI and cargo-lambda, both from PyPI)
# into the repository's .venv-tools/ if they are not there yet, and prints
# the folder holding their executables.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-tools"
if [ ! -x "$venv/bin/sam" ] || [ ! -x "$venv/bin/cargo-lambda" ]; then
  echo "installing aws-sam-cli and cargo-lambda into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "aws-sam-cli>=1.120,<2" "cargo-lambda>=1.6,<2" >&2
fi
echo "$venv/bin"
