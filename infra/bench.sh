#!/usr/bin/env bash
# Runs every benchmark of the product in release mode and prints one table
# at the end: each figure beside a baseline measured in the same run, the
# release size of each function's bootstrap and its cold start to ready
# (against a local Lambda runtime API stub). The first run compiles for
# several minutes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash infra/setup-emulator.sh
export MOTO_SERVER="$root/.venv/bin/moto_server"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
run() {
  echo "== $1 =="
  shift
  "$@" 2>&1 | tee -a "$log"
}
run "ledger fold (1,000,000 mixed events)" cargo bench -q -p ledger-domain --bench fold
run "embedded store append (1,000,000 commission events)" cargo bench -q -p event-store-sqlite --bench append
run "DynamoDB writes per new commission (emulator)" cargo bench -q -p event-store-dynamodb --bench writes
run "DynamoDB request units per commission, whole life (emulator)" cargo bench -q -p event-store-dynamodb --bench lifecycle
run "embedded ledger projection of one hot affiliate (100,000 events)" cargo bench -q -p event-store-sqlite --bench projection
run "payout drafting over 100,000 affiliates x 3 currencies (embedded store)" cargo bench -q -p ledger-app --bench drafting
run "statements for 100,000 affiliates' months (embedded store)" cargo bench -q -p reporting --bench statements
run "bulk HTTP ingest through the local stack (embedded store)" cargo bench -q -p local-stack --bench ingest
run "webhook deliveries through the local stack (embedded store)" cargo bench -q -p local-stack --bench webhooks
echo "== release bootstraps (cargo lambda build --release) =="
bash infra/build-functions.sh --release > /dev/null
cargo build -q --release -p bench-tools
sizes="$(./target/release/bench-tools --runs 5 target/lambda/*/bootstrap)"
echo
echo "| benchmark | result | baseline (same run) | target | |"
echo "|---|---|---|---|---|"
grep '^SUMMARY|' "$log" | sed 's/^SUMMARY|//; s/|/ | /g; s/^/| /; s/$/ |/'
echo
echo "$sizes"
