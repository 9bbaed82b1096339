# shellcheck shell=bash
# Finds or makes a PostgreSQL server with pgvector >= 0.8.0. Sourced by scripts/up.sh and
# scripts/test.sh; sets NEONHUB_SERVER_URL to an admin URL of that server.
#
# Order: $DATABASE_URL when set and reachable; else the server on 127.0.0.1:5432; else a
# project-local cluster under target/neonhub-pg started from the system's PostgreSQL
# binaries. pgvector is installed when absent: the distribution's postgresql-NN-pgvector
# where it is 0.8.0 or newer, else Debian's source package (trixie) built against the
# server's headers. As non-root, the commands are printed instead of run.

NH_ROOT="${NH_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
NH_LOCAL_DIR_SET="${NH_LOCAL_DIR:-}"
NH_LOCAL_DIR="${NH_LOCAL_DIR:-$NH_ROOT/target/neonhub-pg}"
NH_LOCAL_PORT="${NH_LOCAL_PORT:-54329}"
NH_PGVECTOR_MIN="0.8.0"

nh_say() { printf '[provision] %s\n' "$*" >&2; }
nh_die() { printf '[provision] error: %s\n' "$*" >&2; exit 1; }
nh_is_root() { [ "$(id -u)" = 0 ]; }

# Runs a privileged command, or prints it for the user when we are not root.
nh_sudo() {
  if nh_is_root; then "$@"; else
    printf '  sudo %s\n' "$*" >&2
    NH_NEED_ROOT=1
  fi
}

nh_apt_install() {
  nh_say "installing Debian packages: $*"
  if nh_is_root; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
      || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; } \
      || nh_die "apt-get install $* failed"
  else
    nh_sudo apt-get install -y "$@"
  fi
}

nh_psql() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

nh_reachable() { nh_psql -d "$1" -c 'select 1' >/dev/null 2>&1; }

nh_ensure_client() {
  command -v psql >/dev/null 2>&1 && return 0
  nh_say "psql not found: it is needed to check the server"
  nh_apt_install postgresql-client
  [ -z "${NH_NEED_ROOT:-}" ] || nh_die "run the commands above, then run this script again"
}

# The newest PostgreSQL server binaries installed on this machine.
nh_system_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

nh_start_local_cluster() {
  local bindir data log owner
  bindir=$(nh_system_bindir) || true
  if [ -z "$bindir" ]; then
    nh_say "no PostgreSQL server binaries on this machine"
    nh_apt_install postgresql
    [ -z "${NH_NEED_ROOT:-}" ] || nh_die "run the commands above, then run this script again"
    bindir=$(nh_system_bindir) || nh_die "PostgreSQL was installed but no initdb was found"
  fi
  data="$NH_LOCAL_DIR/data"; log="$NH_LOCAL_DIR/server.log"
  mkdir -p "$NH_LOCAL_DIR"
  # initdb and postgres refuse to run as root: the cluster then belongs to 'postgres'.
  owner=()
  if nh_is_root; then
    # A checkout in a directory 'postgres' cannot enter (a 0700 home): keep the cluster
    # where it can, one per checkout, unless NH_LOCAL_DIR says otherwise.
    if [ -z "${NH_LOCAL_DIR_SET:-}" ] && ! runuser -u postgres -- test -x "$NH_LOCAL_DIR" 2>/dev/null; then
      NH_LOCAL_DIR="/var/tmp/neonhub-pg-$(printf '%s' "$NH_ROOT" | cksum | cut -d' ' -f1)"
      data="$NH_LOCAL_DIR/data"; log="$NH_LOCAL_DIR/server.log"
      mkdir -p "$NH_LOCAL_DIR"
      nh_say "the checkout is private to $(id -un): the local cluster lives in $NH_LOCAL_DIR"
    fi
    chown -R postgres "$NH_LOCAL_DIR"; owner=(runuser -u postgres --)
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    nh_say "creating a project-local cluster in $data ($bindir)"
    "${owner[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null || nh_die "initdb failed"
  fi
  if ! "${owner[@]}" "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    nh_say "starting the project-local cluster on 127.0.0.1:$NH_LOCAL_PORT"
    "${owner[@]}" "$bindir/pg_ctl" -D "$data" -l "$log" -w -o "-p $NH_LOCAL_PORT -k $NH_LOCAL_DIR -c listen_addresses=127.0.0.1" start >/dev/null \
      || nh_die "the local cluster did not start; see $log"
  fi
  NEONHUB_SERVER_URL="postgres://postgres@127.0.0.1:$NH_LOCAL_PORT/postgres"
}

nh_find_server() {
  if [ -n "${DATABASE_URL:-}" ]; then
    if nh_reachable "$DATABASE_URL"; then
      nh_say "using DATABASE_URL"
      NEONHUB_SERVER_URL="$DATABASE_URL"; return
    fi
    nh_say "DATABASE_URL is set but does not answer; looking further"
  fi
  if nh_reachable "postgres://postgres@127.0.0.1:5432/postgres"; then
    nh_say "using the server on 127.0.0.1:5432"
    NEONHUB_SERVER_URL="postgres://postgres@127.0.0.1:5432/postgres"; return
  fi
  nh_start_local_cluster
}

# version_ge A B: A >= B for dotted versions.
nh_version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]; }

nh_server_is_local() {
  local host
  host=$(nh_psql -d "$1" -c "select coalesce(host(inet_server_addr()), 'socket')")
  case "$host" in socket|127.0.0.1|::1) return 0 ;; *) return 1 ;; esac
}

NH_TRIXIE_LIST=/etc/apt/sources.list.d/neonhub-trixie-src.sources

# Adds a deb-src entry for Debian trixie (source packages only) once.
nh_ensure_trixie_src() {
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || nh_apt_install debian-archive-keyring
  if [ ! -f "$NH_TRIXIE_LIST" ]; then
    nh_say "adding a deb-src entry for Debian trixie ($NH_TRIXIE_LIST)"
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > "$NH_TRIXIE_LIST"
  fi
  # Once per run: the entry may predate lists that were cleaned since.
  if [ -z "${NH_APT_UPDATED:-}" ]; then
    apt-get update -qq >/dev/null 2>&1 || nh_die "apt-get update failed"
    NH_APT_UPDATED=1
  fi
}

nh_print_trixie_src_commands() {
  printf '  %s\n' "printf 'Types: deb-src\\nURIs: http://deb.debian.org/debian\\nSuites: trixie\\nComponents: main\\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\\n' | sudo tee $NH_TRIXIE_LIST" \
    "sudo apt-get update" >&2
}

nh_build_pgvector_from_debian_source() {
  local major="$1" src="$NH_ROOT/target/neonhub-build/pgvector"
  nh_say "building pgvector from Debian's source package (trixie) against postgresql-server-dev-$major"
  if ! nh_is_root; then
    nh_print_trixie_src_commands
    printf '  %s\n' "sudo apt-get install -y postgresql-server-dev-$major build-essential dpkg-dev" \
      "cd /tmp && apt-get source pgvector && cd pgvector-*/ && make PG_CONFIG=/usr/lib/postgresql/$major/bin/pg_config && sudo make install PG_CONFIG=/usr/lib/postgresql/$major/bin/pg_config" >&2
    NH_NEED_ROOT=1; return
  fi
  nh_ensure_trixie_src
  nh_apt_install "postgresql-server-dev-$major" build-essential dpkg-dev
  rm -rf "$src" && mkdir -p "$src"
  (cd "$src" && apt-get source -qq pgvector >/dev/null 2>&1) || nh_die "apt-get source pgvector failed"
  local dir; dir=$(ls -d "$src"/pgvector-*/ | head -n 1)
  nh_say "compiling pgvector in $dir"
  make -s -C "$dir" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" >/dev/null 2>&1 || nh_die "building pgvector failed"
  make -s -C "$dir" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" install >/dev/null || nh_die "installing pgvector failed"
}

nh_ensure_pgvector() {
  local url="$1" have major candidate
  have=$(nh_psql -d "$url" -c "select coalesce(installed_version, default_version) from pg_available_extensions where name = 'vector'")
  if [ -n "$have" ] && nh_version_ge "$have" "$NH_PGVECTOR_MIN"; then
    nh_say "pgvector $have is available"; return
  fi
  nh_say "pgvector ${have:-is missing}${have:+ is older than $NH_PGVECTOR_MIN}"
  nh_server_is_local "$url" || nh_die "the server is not on this machine: install pgvector >= $NH_PGVECTOR_MIN on it (or enable it in your provider's console)"
  major=$(nh_psql -d "$url" -c "select current_setting('server_version_num')::int / 10000")
  candidate=$(apt-cache policy "postgresql-$major-pgvector" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -n "$candidate" ] && [ "$candidate" != "(none)" ] && nh_version_ge "${candidate%%-*}" "$NH_PGVECTOR_MIN"; then
    nh_apt_install "postgresql-$major-pgvector"
  else
    nh_build_pgvector_from_debian_source "$major"
  fi
  [ -z "${NH_NEED_ROOT:-}" ] || nh_die "not root: run the commands above, then run this script again"
  have=$(nh_psql -d "$url" -c "select default_version from pg_available_extensions where name = 'vector'")
  [ -n "$have" ] && nh_version_ge "$have" "$NH_PGVECTOR_MIN" || nh_die "pgvector is still not available on the server"
  nh_say "pgvector $have installed"
}

NH_PGBOUNCER_MIN="1.21"

# pgbouncer 1.21+ (prepared statements in transaction mode) for the pooler tests; sets
# and exports NEONHUB_PGBOUNCER. Bookworm ships 1.18, so it is built from Debian's trixie
# source package into target/ (no install) when no new enough one is found.
nh_ensure_pgbouncer() {
  local have candidate src dir
  if [ -n "${NEONHUB_PGBOUNCER:-}" ] && [ -x "$NEONHUB_PGBOUNCER" ]; then export NEONHUB_PGBOUNCER; return; fi
  for bin in "$(command -v pgbouncer 2>/dev/null)" "$NH_ROOT"/target/neonhub-build/pgbouncer/pgbouncer-*/pgbouncer; do
    [ -n "$bin" ] && [ -x "$bin" ] || continue
    have=$("$bin" --version 2>/dev/null | awk '/PgBouncer/ {print $2}')
    if [ -n "$have" ] && nh_version_ge "$have" "$NH_PGBOUNCER_MIN"; then
      NEONHUB_PGBOUNCER="$bin"; export NEONHUB_PGBOUNCER; nh_say "pgbouncer $have: $bin"; return
    fi
  done
  candidate=$(apt-cache policy pgbouncer 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -n "$candidate" ] && [ "$candidate" != "(none)" ] && nh_version_ge "${candidate%%-*}" "$NH_PGBOUNCER_MIN"; then
    nh_apt_install pgbouncer
    [ -z "${NH_NEED_ROOT:-}" ] || nh_die "not root: run the commands above, then run this script again"
    NEONHUB_PGBOUNCER=$(command -v pgbouncer); export NEONHUB_PGBOUNCER; return
  fi
  nh_say "building pgbouncer from Debian's source package (trixie) into target/neonhub-build/pgbouncer"
  if ! nh_is_root; then
    nh_print_trixie_src_commands
    printf '  %s\n' "sudo apt-get install -y libevent-dev pkg-config build-essential dpkg-dev" >&2
    nh_die "not root: run the commands above, then run this script again"
  fi
  nh_ensure_trixie_src
  nh_apt_install libevent-dev pkg-config build-essential dpkg-dev
  src="$NH_ROOT/target/neonhub-build/pgbouncer"
  rm -rf "$src" && mkdir -p "$src"
  (cd "$src" && apt-get source -qq pgbouncer >/dev/null 2>&1) || nh_die "apt-get source pgbouncer failed"
  dir=$(ls -d "$src"/pgbouncer-*/ | head -n 1)
  (cd "$dir" && ./configure --without-cares --without-openssl >/dev/null 2>&1 && make -s -j2 >/dev/null 2>&1) \
    || nh_die "building pgbouncer failed"
  NEONHUB_PGBOUNCER="${dir%/}/pgbouncer"; export NEONHUB_PGBOUNCER
  nh_say "pgbouncer $("$NEONHUB_PGBOUNCER" --version | awk '/PgBouncer/ {print $2}') built: $NEONHUB_PGBOUNCER"
}

# Starts pgbouncer ($NEONHUB_PGBOUNCER, see nh_ensure_pgbouncer) in transaction mode with
# prepared-statement support on a free loopback port, in front of the server of admin URL $1,
# for the users named after it: with trust (the local server's auth), each client logs in to
# the server as itself, so an application role stays that role behind the pooler. Sets
# NH_POOLER_PORT; the pooler stops when the calling shell exits. Each argument is a user, or
# user:password when the server asks for one (pgbouncer then answers it for the client, from
# the md5 form it keeps: md5 or trust servers, not SCRAM-only ones); they
# may also read the console's SHOW commands (the tests check that they are its clients).
nh_start_pgbouncer() {
  local url=$1 host port dir bin u
  shift
  read -r host port < <(python3 - "$url" <<'PY'
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or 5432)
PY
)
  NH_POOLER_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  dir=$(mktemp -d /tmp/nh-pooler.XXXXXX)
  bin="$NEONHUB_PGBOUNCER"
  local names=()
  for u in "$@"; do
    names+=("${u%%:*}")
    # pgbouncer's md5 form (md5 of password + user), not the password itself.
    case "$u" in
      *:*) printf '"%s" "md5%s"\n' "${u%%:*}" "$(printf '%s%s' "${u#*:}" "${u%%:*}" | md5sum | cut -d' ' -f1)" ;;
      *) printf '"%s" ""\n' "$u" ;;
    esac
  done > "$dir/userlist.txt"
  # Idle server connections close after 5 s: a suite makes a pool per test database, and the
  # server's max_connections is shared with everything else.
  cat > "$dir/pgbouncer.ini" <<INI
[databases]
* = host=$host port=$port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $NH_POOLER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
max_prepared_statements = 200
default_pool_size = 4
max_client_conn = 1000
server_idle_timeout = 5
ignore_startup_parameters = extra_float_digits,options
stats_users = $(IFS=,; echo "${names[*]}")
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
  local owner=()
  if nh_is_root; then
    # pgbouncer refuses root; 'postgres' runs a copy, as the checkout may be private to us.
    cp "$bin" "$dir/pgbouncer"; bin="$dir/pgbouncer"
    chown -R postgres "$dir"; owner=(runuser -u postgres --)
  fi
  "${owner[@]}" "$bin" -d "$dir/pgbouncer.ini" || nh_die "pgbouncer did not start; see $dir/pgbouncer.log"
  NH_POOLER_DIR=$dir
  trap nh_stop_pgbouncer EXIT
  local i
  for i in $(seq 100); do
    (: > "/dev/tcp/127.0.0.1/$NH_POOLER_PORT") 2>/dev/null && { nh_say "pgbouncer (transaction mode) on 127.0.0.1:$NH_POOLER_PORT"; return; }
    sleep 0.1
  done
  nh_die "pgbouncer is not listening on $NH_POOLER_PORT; see $dir/pgbouncer.log"
}

nh_stop_pgbouncer() {
  [ -n "${NH_POOLER_DIR:-}" ] || return 0
  [ -f "$NH_POOLER_DIR/pgbouncer.pid" ] && kill "$(cat "$NH_POOLER_DIR/pgbouncer.pid")" 2>/dev/null
  rm -rf "$NH_POOLER_DIR"; NH_POOLER_DIR=
}

nh_provision() {
  nh_ensure_client
  nh_find_server
  nh_ensure_pgvector "$NEONHUB_SERVER_URL"
  export NEONHUB_SERVER_URL
}

# A URL for database $2 on the server of admin URL $1 (query string kept).
# $1 with the user (and password) replaced by $2:$3 (the password URL-encoded).
nh_url_with_user() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
host = p.netloc.rsplit("@", 1)[-1]
cred = u.quote(sys.argv[2], safe="") + ":" + u.quote(sys.argv[3], safe="")
print(u.urlunsplit((p.scheme, cred + "@" + host, p.path, p.query, p.fragment)))
PY
}

nh_url_with_db() {
  python3 - "$1" "$2" <<'PY' 2>/dev/null || echo "$1"
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1]); print(u.urlunsplit((p.scheme, p.netloc, "/" + sys.argv[2], p.query, p.fragment)))
PY
}
