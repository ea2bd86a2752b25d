#!/usr/bin/env bash
# Runs every benchmark of the product and prints its figures, each beside a
# baseline measured in the same run. Release builds: the first run compiles
# for several minutes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash infra/setup-emulator.sh
export MOTO_SERVER="$root/.venv/bin/moto_server"
echo "== ledger fold (1,000,000 mixed events) =="
cargo bench -q -p ledger-domain --bench fold
echo "== embedded store append (1,000,000 commission events) =="
cargo bench -q -p event-store-sqlite --bench append
echo "== DynamoDB writes per new commission (emulator) =="
cargo bench -q -p event-store-dynamodb --bench writes
echo "== embedded ledger projection of one hot affiliate (100,000 events) =="
cargo bench -q -p event-store-sqlite --bench projection
echo "== payout drafting over 100,000 affiliates x 3 currencies (embedded store) =="
cargo bench -q -p ledger-app --bench drafting
