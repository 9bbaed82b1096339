#!/usr/bin/env bash
# Runs the benches against a provisioned PostgreSQL with pgvector: `scripts/bench.sh` runs
# all of them, `scripts/bench.sh vector_search`, `job_queue`, `ledger`, `secrets`, `crm`, `attribution` or `replicas` one. Each creates
# (and recreates) its own database on that server (`nh_bench`, `nh_bench_jobs`, `nh_bench_secrets`, `nh_bench_crm`,
# `nh_bench_ledger`), prints its table and writes it under target/neonhub-bench/ (<bench>.json,
# and vector_search.md for the vector table). Arguments after the bench's name go to `cargo bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/provision.sh
source scripts/lib/provision.sh
nh_provision
export NEONHUB_BENCH_DATABASE_URL="${NEONHUB_BENCH_DATABASE_URL:-$NEONHUB_SERVER_URL}"
case "${1:-}" in
  vector_search|job_queue|ledger|secrets|crm|attribution|replicas) benches=("$1"); shift ;;
  *) benches=(vector_search job_queue ledger secrets crm attribution replicas) ;;
esac
for bench in "${benches[@]}"; do
  cargo bench --locked --bench "$bench" "$@"
done
