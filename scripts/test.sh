#!/usr/bin/env bash
# Runs the whole test suite against a real PostgreSQL with pgvector (provisioned when needed).
# Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/provision.sh
source scripts/lib/provision.sh
nh_provision
export NEONHUB_TEST_DATABASE_URL="$NEONHUB_SERVER_URL"
cargo test --workspace --locked "$@"
