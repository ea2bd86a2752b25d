#!/usr/bin/env bash
# Builds every Lambda function's bootstrap with cargo-lambda, natively (no
# zig needed): debug by default (what CI runs), `--release` for deployment,
# `--release --arm64` for the template's arm64 functions (needs zig:
# pip install ziglang into .venv-tools, then drop --compiler cargo).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$(bash "$root/infra/tools.sh")"
cd "$root"
"$bin/cargo-lambda" lambda build --compiler cargo \
  -p ingest-commissions -p project-ledger -p ledger-api -p mature-commissions \
  -p dispatch-payouts -p draft-payouts -p processor-webhooks -p statements -p reconcile \
  -p publish-events "$@"
ls target/lambda
