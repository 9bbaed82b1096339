#!/usr/bin/env bash
# Runs the vector-search benches against a provisioned PostgreSQL with pgvector. They
# create (and recreate) a database `nh_bench` on that server; the results table is printed
# and written to target/neonhub-bench.md. Extra arguments go to `cargo bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/provision.sh
source scripts/lib/provision.sh
nh_provision
export NEONHUB_BENCH_DATABASE_URL="${NEONHUB_BENCH_DATABASE_URL:-$NEONHUB_SERVER_URL}"
cargo bench --locked --bench vector_search "$@"
