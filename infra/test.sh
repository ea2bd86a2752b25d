#!/usr/bin/env bash
# The whole test suite: installs what the tests need (the AWS emulator, into
# .venv/), then runs every test of the workspace, including the conformance
# suite against SQLite and against DynamoDB on the emulator.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash infra/setup-emulator.sh
export MOTO_SERVER="$root/.venv/bin/moto_server"
cargo test --workspace "$@"
