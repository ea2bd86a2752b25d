#!/usr/bin/env bash
# Validates template.yaml with the SAM CLI's linter, offline, and checks
# that every function's IAM policy is least privilege (infra/check-iam.py).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$(bash "$root/infra/tools.sh")"
export SAM_CLI_TELEMETRY=0
"$bin/sam" validate --lint --template "$root/template.yaml"
"$bin/python" "$root/infra/check-iam.py" "$root/template.yaml"
