#!/usr/bin/env bash
# Makes sure the PostgreSQL and Redis that the CI tests use answer, starting the local servers
# when they are installed but stopped. Only loopback addresses are touched.
set -euo pipefail
database_url=$1
redis_url=$2

postgres_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }

if ! postgres_up && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  echo "starting the local PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! redis_up && command -v redis-server >/dev/null; then
  echo "starting the local Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
fi
for _ in $(seq 1 50); do
  if postgres_up && redis_up; then
    exit 0
  fi
  sleep 0.2
done
echo "PostgreSQL ($database_url) or Redis ($redis_url) does not answer on 127.0.0.1" >&2
exit 1
