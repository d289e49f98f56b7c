#!/bin/sh
# Entrypoint of every harness node, copied into the container before it starts,
# so the same harness runs pgshard's Debian-built image and the official
# postgres image alike. On first start a primary runs initdb and a replica
# clones its primary with pg_basebackup; later starts reuse the data directory.
#
# Environment: PGDATA, PGSHARD_ROLE (primary|replica), PGSHARD_NODE (node name,
# also cluster_name and replication slot), PGSHARD_PRIMARY_HOST (the primary's
# alias on the replication network), PGSHARD_PASSWORD (superuser password).
# Arguments are extra `-c name=value` settings for postgres.
set -eu

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  case "$PGSHARD_ROLE" in
  primary)
    pwfile=$(mktemp)
    printf '%s\n' "$PGSHARD_PASSWORD" >"$pwfile"
    # C locale: text sorts the same on every node and on a reference database.
    initdb -D "$PGDATA" -U postgres --pwfile="$pwfile" --locale=C --encoding=UTF8 \
      --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    # md5 accepts both md5 and SCRAM verifiers, so tests can create users of
    # either kind; pgshard_trust exists for trust-auth tests.
    cat >"$PGDATA/pg_hba.conf" <<HBA
local all all trust
host all pgshard_trust all trust
host all all all md5
host replication all all md5
HBA
    ;;
  replica)
    until pg_isready -q -h "$PGSHARD_PRIMARY_HOST" -p 5432; do sleep 0.2; done
    # A clone can fail transiently while the primary is busy starting its
    # siblings: retry a few times, dropping the slot a failed try created.
    tries=0
    until PGPASSWORD="$PGSHARD_PASSWORD" pg_basebackup -h "$PGSHARD_PRIMARY_HOST" -p 5432 -U postgres \
      -D "$PGDATA" -R -X stream -c fast -C -S "$PGSHARD_NODE"; do
      tries=$((tries + 1))
      rm -rf "$PGDATA"
      if [ "$tries" -ge 5 ]; then
        exit 1
      fi
      echo "entrypoint: pg_basebackup failed (try $tries), retrying" >&2
      PGPASSWORD="$PGSHARD_PASSWORD" psql -h "$PGSHARD_PRIMARY_HOST" -p 5432 -U postgres -d postgres -Atq \
        -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$PGSHARD_NODE'" || true
      mkdir -p "$PGDATA"
      chmod 700 "$PGDATA"
      sleep 1
    done
    # A walreceiver connecting while its network is cut (a fault test)
    # would otherwise wait out TCP's retransmissions, a minute or more,
    # before trying again once the network is back.
    sed -i "s/^primary_conninfo = '/primary_conninfo = 'connect_timeout=2 /" "$PGDATA/postgresql.auto.conf"
    ;;
  *)
    echo "entrypoint: PGSHARD_ROLE must be primary or replica, not '$PGSHARD_ROLE'" >&2
    exit 2
    ;;
  esac
fi

# Settings that must match on a primary and its replicas are passed here, the
# same for every node; per-test settings follow as arguments. Short walsender
# and walreceiver timeouts let a cut replication link be noticed, and a healed
# one resumed, within seconds instead of a minute. fsync is off: these are
# throw-away test servers, and a SIGKILL of Postgres loses nothing the kernel
# already has.
exec postgres -D "$PGDATA" \
  -c listen_addresses='*' \
  -c unix_socket_directories=/tmp \
  -c cluster_name="$PGSHARD_NODE" \
  -c wal_level=logical \
  -c max_connections=200 \
  -c max_wal_senders=20 \
  -c max_replication_slots=20 \
  -c max_prepared_transactions=100 \
  -c hot_standby=on \
  -c fsync=off \
  -c wal_sender_timeout=5s \
  -c wal_receiver_timeout=5s \
  -c wal_retrieve_retry_interval=1s \
  "$@"
