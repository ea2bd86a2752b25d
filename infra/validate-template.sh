#!/usr/bin/env bash
# Validates template.yaml with the SAM CLI's linter, offline. Installs the
# SAM CLI into its own virtualenv (.venv-sam/) on first use.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-sam"
if [ ! -x "$venv/bin/sam" ]; then
  echo "installing aws-sam-cli into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "aws-sam-cli>=1.120,<2"
fi
export SAM_CLI_TELEMETRY=0
"$venv/bin/sam" validate --lint --template "$root/template.yaml"
