#!/usr/bin/env bash
# The main job: find or make PostgreSQL with pgvector, `neonhub up` (migrate, seed, verify),
# the application role (`neonhub app-role`, `verify --require-rls`), then the examples
# (examples/rag_search.rs, examples/identity.rs, examples/agents.rs, examples/budget.rs,
# examples/connectors.rs, examples/crm.rs, examples/campaigns.rs) as that role, through
# pgbouncer in transaction mode when the server is the one this script provisioned.
# With DATABASE_URL set (and reachable) that database is used as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/provision.sh
source scripts/lib/provision.sh
user_url="${DATABASE_URL:-}"
nh_provision
own_server=0
if [ -n "$user_url" ] && [ "$NEONHUB_SERVER_URL" = "$user_url" ]; then
  export DATABASE_URL="$user_url"
else
  own_server=1
  if [ "$(nh_psql -d "$NEONHUB_SERVER_URL" -c "select count(*) from pg_database where datname = 'neonhub'")" = 0 ]; then
    nh_say "creating database neonhub"
    nh_psql -d "$NEONHUB_SERVER_URL" -c 'CREATE DATABASE neonhub'
  fi
  DATABASE_URL=$(nh_url_with_db "$NEONHUB_SERVER_URL" neonhub)
  export DATABASE_URL
fi
cargo build --locked --quiet -p neonhub-cli
# Through cargo, so the binary is found wherever CARGO_TARGET_DIR (or build.target-dir) puts it.
neonhub() { cargo run --locked --quiet -p neonhub-cli -- "$@"; }
# The demo database's sealing key: NEONHUB_SECRET_KEYS if set, else one generated on the first
# run and kept (owner-only) under target/, so later runs open what earlier ones sealed.
if [ -z "${NEONHUB_SECRET_KEYS:-}" ]; then
  keyfile=target/neonhub-demo/secret-keys
  if [ ! -s "$keyfile" ]; then
    mkdir -p "$(dirname "$keyfile")"
    (umask 077 && neonhub secrets new-key --id demo > "$keyfile")
    nh_say "generated the demo database's secret key in $keyfile"
  fi
  NEONHUB_SECRET_KEYS=$(cat "$keyfile")
  export NEONHUB_SECRET_KEYS
fi
# Likewise the key that hashes erased people's identities onto the suppression list (a
# different key: a hash key is never a sealing key).
if [ -z "${NEONHUB_SUPPRESSION_KEY:-}" ]; then
  keyfile=target/neonhub-demo/suppression-key
  if [ ! -s "$keyfile" ]; then
    mkdir -p "$(dirname "$keyfile")"
    (umask 077 && neonhub secrets new-key --id demo > "$keyfile")
    nh_say "generated the demo database's suppression key in $keyfile"
  fi
  NEONHUB_SUPPRESSION_KEY=$(cat "$keyfile")
  export NEONHUB_SUPPRESSION_KEY
fi
# Migrate, seed the demo rows, verify (expecting the seed); extra arguments go to `neonhub up`.
neonhub up "$@"
# The arrangement a production service uses: system work above as the owner on the direct
# URL; the examples below as the application role, subject to row-level security.
export NEONHUB_APP_PASSWORD="${NEONHUB_APP_PASSWORD:-neonhub_app}"
neonhub app-role neonhub_app --password-env NEONHUB_APP_PASSWORD
DIRECT_DATABASE_URL="$DATABASE_URL"
DATABASE_URL=$(nh_url_with_user "$DIRECT_DATABASE_URL" neonhub_app "$NEONHUB_APP_PASSWORD")
# On the server this script provisioned, the examples go through pgbouncer in transaction
# mode, as they would through Neon's pooler (DIRECT_DATABASE_URL stays direct: COPY,
# LISTEN, index builds and migrations need a session). A database of your own is used as given.
if [ "$own_server" = 1 ]; then
  if nh_is_root || [ -n "${NEONHUB_PGBOUNCER:-}" ] || command -v pgbouncer >/dev/null 2>&1 \
     || compgen -G "$NH_ROOT/target/neonhub-build/pgbouncer/pgbouncer-*/pgbouncer" >/dev/null; then
    nh_ensure_pgbouncer
    nh_start_pgbouncer "$NEONHUB_SERVER_URL" "neonhub_app:$NEONHUB_APP_PASSWORD"
    DATABASE_URL=$(nh_url_with_user "postgres://127.0.0.1:$NH_POOLER_PORT/neonhub" neonhub_app "$NEONHUB_APP_PASSWORD")
  else
    nh_say "no pgbouncer and not root to build one: the examples connect directly"
  fi
fi
export DATABASE_URL DIRECT_DATABASE_URL
neonhub verify --require-rls
# Then retrieval end to end: a space, a corpus, its index, a plain, a filtered and a hybrid search.
cargo run --locked --quiet --example rag_search
# And identity: an organization, invitations, roles, authorize, an API key, the audit trail.
cargo run --locked --quiet --example identity
# And agents: a lifecycle, a tool's contracts, a run with tool calls and metrics, a training job.
cargo run --locked --quiet --example agents
# And billing: a budget, reservations for two campaigns, a commit, a refund, a replay, the audit.
cargo run --locked --quiet --example budget
# And connectors: a token sealed at rest, read back, the key rotated online, 8 handlers refreshing
# an expired token with one provider call.
cargo run --locked --quiet --example connectors
# And CRM: identities, a merge, consent that decides contact, an event batch, a memory search,
# an export, an erasure and the suppressed re-import.
cargo run --locked --quiet --example crm
# And campaigns: a brand with a voice, a campaign's life, a sequence and posts published once,
# an A/B test evaluated.
cargo run --locked --quiet --example campaigns
