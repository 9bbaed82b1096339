#!/usr/bin/env bash
# Fails when crates/schema/src/schema.rs is not exactly what `diesel print-schema` generates
# from a database migrated from empty, or crates/schema/expected_catalog.json is not the
# catalog that database has. Regenerate both with: scripts/check-schema.sh --write
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/provision.sh
source scripts/lib/provision.sh
DIESEL_CLI_VERSION=2.3.14

if ! diesel --version 2>/dev/null | grep -q "$DIESEL_CLI_VERSION"; then
  [ -f /usr/include/postgresql/libpq-fe.h ] || nh_apt_install libpq-dev
  [ -z "${NH_NEED_ROOT:-}" ] || nh_die "run the commands above, then run this script again"
  nh_say "installing diesel_cli $DIESEL_CLI_VERSION from crates.io"
  cargo install diesel_cli --version "$DIESEL_CLI_VERSION" --locked --no-default-features --features postgres --quiet
fi

nh_provision
db="nh_schema_check_$$"
nh_psql -d "$NEONHUB_SERVER_URL" -c "CREATE DATABASE $db TEMPLATE template0"
trap 'nh_psql -d "$NEONHUB_SERVER_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true' EXIT
url=$(nh_url_with_db "$NEONHUB_SERVER_URL" "$db")
cargo run --locked --quiet -p neonhub-cli -- migrate --database-url "$url" >/dev/null
generated=$(mktemp); catalog=$(mktemp)
diesel print-schema --database-url "$url" > "$generated"
cargo run --locked --quiet -p neonhub-cli -- catalog --normalized --database-url "$url" > "$catalog"
if [ "${1:-}" = "--write" ]; then
  cp "$generated" crates/schema/src/schema.rs
  cp "$catalog" crates/schema/expected_catalog.json
  echo "schema.rs and expected_catalog.json regenerated"
  exit 0
fi
status=0
if ! diff -u crates/schema/src/schema.rs "$generated"; then
  echo "schema.rs differs from what the migrations generate: run scripts/check-schema.sh --write" >&2
  status=1
fi
if ! diff -u crates/schema/expected_catalog.json "$catalog"; then
  echo "expected_catalog.json differs from what the migrations build: run scripts/check-schema.sh --write" >&2
  status=1
fi
[ "$status" = 0 ] && echo "schema.rs and expected_catalog.json match the migrations"
exit "$status"
