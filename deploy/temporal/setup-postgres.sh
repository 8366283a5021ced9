#!/bin/sh
# Creates Temporal's two PostgreSQL databases and applies every schema version (idempotent: re-running
# on an existing database only applies what is missing).
set -eu
for db in temporal temporal_visibility; do
  case "$db" in
    temporal) schema=temporal ;;
    *) schema=visibility ;;
  esac
  temporal-sql-tool --plugin postgres12 --ep postgresql -p 5432 -u temporal --db "$db" create || true
  temporal-sql-tool --plugin postgres12 --ep postgresql -p 5432 -u temporal --db "$db" setup-schema -v 0.0 || true
  temporal-sql-tool --plugin postgres12 --ep postgresql -p 5432 -u temporal --db "$db" update-schema -d "/etc/temporal/schema/postgresql/v12/$schema/versioned"
done
