#!/usr/bin/env bash
# Load figures for docs/benchmarks.md: starts the release binary on PostgreSQL + Redis (local,
# 127.0.0.1 only), measures JWKS with wrk and sign-in, refresh, authenticated requests, OAuth
# client-credentials, refresh and introspection with examples/load.rs, and reports memory. Usage: scripts/bench-load.sh [log level, default info]
# Needs: make release, cargo build --release -p castellan-api --example load, wrk (apt).
set -u
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/castellan/target}
B=$TARGET/release/castellan; L=$TARGET/release/examples/load
rm -rf /tmp/bench-data; psql -h 127.0.0.1 -U postgres -qc "drop database if exists castellan_bench" -c "create database castellan_bench" 2>/dev/null
redis-cli -h 127.0.0.1 --scan --pattern 'bench:*' | xargs -r redis-cli -h 127.0.0.1 del > /dev/null
export CASTELLAN_SERVER__BIND=127.0.0.1:8130 CASTELLAN_ISSUER=http://127.0.0.1:8130 CASTELLAN_DATA_DIR=/tmp/bench-data CASTELLAN_DATABASE__URL=postgres://postgres@127.0.0.1:5432/castellan_bench CASTELLAN_DATABASE__MAX_CONNECTIONS=32 CASTELLAN_CACHE__URL=redis://127.0.0.1:6379 CASTELLAN_CACHE__KEY_PREFIX=bench: CASTELLAN_RATE_LIMIT__ENABLED=false CASTELLAN_KEYS__MASTER_KEY=$(openssl rand -base64 32) CASTELLAN_LOG__LEVEL=${1:-info}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
$B migrate up > /dev/null 2>&1
CC=$($B clients create --name load-cc --grant-type client_credentials --scope "profile email" 2>/dev/null)
WEB=$($B clients create --name load-web --first-party --redirect-uri http://127.0.0.1:9/cb --grant-type authorization_code --grant-type refresh_token --scope "openid email offline_access" 2>/dev/null)
export LOAD_CC_ID=$(echo "$CC" | field client_id) LOAD_CC_SECRET=$(echo "$CC" | field client_secret)
export LOAD_WEB_ID=$(echo "$WEB" | field client_id) LOAD_WEB_SECRET=$(echo "$WEB" | field client_secret)
$B serve > /dev/null 2>&1 & P=$!; sleep 3; curl -s localhost:8130/health/ready; echo; sleep 2; echo "idle RSS: $(grep VmRSS /proc/$P/status)"
wrk -t2 -c64 -d10s http://127.0.0.1:8130/.well-known/jwks.json | grep -E "Requests/sec"
$L http://127.0.0.1:8130 signin 32 10
$L http://127.0.0.1:8130 refresh 64 10
$L http://127.0.0.1:8130 me 64 10
$L http://127.0.0.1:8130 client-credentials 64 10
$L http://127.0.0.1:8130 oauth-refresh 64 10
$L http://127.0.0.1:8130 introspect 64 10
# The stateless OAuth requests again with wrk, whose own cost is far below the Rust client's.
CC_AUTH="Basic $(printf '%s:%s' "$LOAD_CC_ID" "$LOAD_CC_SECRET" | base64 -w0)"
echo "client credentials (wrk):"; WRK_AUTH=$CC_AUTH WRK_BODY='grant_type=client_credentials' \
  wrk -t2 -c64 -d10s -s scripts/wrk-post.lua http://127.0.0.1:8130/oauth2/token | grep -E "Requests/sec|Latency|Non-2xx"
TOKEN=$(curl -s -u "$LOAD_CC_ID:$LOAD_CC_SECRET" -d grant_type=client_credentials http://127.0.0.1:8130/oauth2/token | field access_token)
echo "introspection (wrk):"; WRK_AUTH=$CC_AUTH WRK_BODY="token=$TOKEN" \
  wrk -t2 -c64 -d10s -s scripts/wrk-post.lua http://127.0.0.1:8130/oauth2/introspect | grep -E "Requests/sec|Latency|Non-2xx"
echo "RSS after load: $(grep VmRSS /proc/$P/status)"; sleep 35; echo "RSS 35 s later: $(grep VmRSS /proc/$P/status)"
kill -TERM $P; wait $P
