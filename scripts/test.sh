#!/usr/bin/env bash
# Runs the whole test suite against a real PostgreSQL with pgvector (provisioned when needed).
# Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/provision.sh
source scripts/lib/provision.sh
nh_provision
nh_ensure_pgbouncer
command -v openssl >/dev/null 2>&1 || nh_apt_install openssl   # the TLS tests generate a certificate
export NEONHUB_TEST_DATABASE_URL="$NEONHUB_SERVER_URL"
cargo test --workspace --locked "$@"
# The pooled path: the rag and identity suites again, through pgbouncer in transaction mode,
# logged in as the application role, the way a service reaches Neon (see the README).
nh_start_pgbouncer "$NEONHUB_SERVER_URL" nh_test_app:nh-test-app
NEONHUB_TEST_POOLER_URL="postgres://127.0.0.1:$NH_POOLER_PORT/postgres" \
  cargo test --locked -p neonhub-rag -p neonhub-identity "$@"
