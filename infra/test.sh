#!/usr/bin/env bash
# The whole test suite: installs what the tests need (the AWS emulator, into
# .venv/) and the browser (Debian's chromium and chromium-driver), then runs every test of the workspace, including the conformance
# suite against SQLite and against DynamoDB on the emulator, and the web
# app's tests in headless Chromium.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash infra/setup-emulator.sh
export MOTO_SERVER="$root/.venv/bin/moto_server"
bash infra/setup-browser.sh
# The browser tests fail (rather than skip) when the browser is missing.
export REQUIRE_BROWSER=1
cargo test --workspace "$@"
