#!/usr/bin/env bash
# Fuzzes a fresh Castellan against openapi.yaml with schemathesis: every answer must be
# documented for its operation (status and content type) and none may be a server error.
# Installs schemathesis from PyPI into a virtual environment of its own when it is missing,
# starts `castellan serve` on 127.0.0.1 with a fresh SQLite, creates a super admin with
# `castellan admin create`, signs it in, and runs a short, bounded session as that admin.
#
#   CASTELLAN_BIN          the castellan executable (default: ./target/debug/castellan)
#   SCHEMATHESIS_VENV      the virtual environment (default: ~/.cache/castellan/schemathesis-venv)
#   SCHEMATHESIS_EXAMPLES  test cases per operation and phase (default: 10)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${CASTELLAN_BIN:-$root/target/debug/castellan}
venv=${SCHEMATHESIS_VENV:-$HOME/.cache/castellan/schemathesis-venv}
version=4.32.5
examples=${SCHEMATHESIS_EXAMPLES:-10}

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF "$version"; then
  echo "installing schemathesis $version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi
[ -x "$bin" ] || { echo "no castellan executable at $bin: run 'cargo build -p castellan-api' first" >&2; exit 1; }

work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
# Only this run's settings: nothing from the caller's CASTELLAN_* environment.
for name in $(env | sed -n 's/^\(CASTELLAN_[A-Z0-9_]*\)=.*/\1/p'); do unset "$name"; done
export CASTELLAN_DATA_DIR="$work/data" CASTELLAN_SERVER__BIND="127.0.0.1:$port" CASTELLAN_ISSUER="$base"
# One client sends everything: the per-IP limits would answer 429 to most of the run.
export CASTELLAN_RATE_LIMIT__ENABLED=false
email=admin@example.com
password='Schemathesis-Run-9!'
cd "$work"

"$bin" admin create --email "$email" --password "$password" >"$work/admin.log" 2>&1 \
  || { cat "$work/admin.log" >&2; exit 1; }
"$bin" serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fsS "$base/health/ready" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
token=$(curl -fsS -X POST "$base/api/v1/auth/signin" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"$password\"}" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

# Left out: the operations that would end the run's own session or account (a refresh token
# the run saw once and presents again revokes the whole session), or switch the whole server
# into maintenance mode.
status=0
"$venv/bin/schemathesis" run "$root/openapi.yaml" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "$examples" \
  --seed 1 \
  --workers 2 \
  --request-timeout 10 \
  --exclude-operation-id logout \
  --exclude-operation-id revoke_session \
  --exclude-operation-id refresh \
  --exclude-operation-id delete_me \
  --exclude-operation-id erase \
  --exclude-operation-id set_maintenance \
  --no-color \
  || status=$?
# The server's log stays when the run failed, or when SCHEMATHESIS_SERVER_LOG asks for it.
if [ "$status" != 0 ] || [ -n "${SCHEMATHESIS_SERVER_LOG:-}" ]; then
  cp "$work/server.log" "${SCHEMATHESIS_SERVER_LOG:-$root/schemathesis-server.log}"
  echo "the server's log is in ${SCHEMATHESIS_SERVER_LOG:-$root/schemathesis-server.log}" >&2
fi
exit "$status"
