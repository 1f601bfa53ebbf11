#!/usr/bin/env bash
# Starts a real S3-compatible server on loopback for the blob/s3blob tests:
# versitygw (Apache-2.0, Go) with its posix backend over a fresh temporary
# directory. Installs it first if missing (built from the Go module proxy
# into $HOME/go/bin, ~3.5 min of CPU once; later runs reuse the binary).
#
# Usage:   eval "$(bash .ci/s3server.sh)"     # exports PARLEY_TEST_S3_*
#          kill "$PARLEY_TEST_S3_PID"           # when done
# Only the export lines go to stdout; progress goes to stderr.
set -euo pipefail

VERSITYGW_MODULE=github.com/versity/versitygw/cmd/versitygw
VERSITYGW_VERSION=v1.8.0
ACCESS_KEY=parleytest
SECRET_KEY=parleytestsecret
BUCKET=parley-test

export PATH="$PATH:/usr/local/go/bin:$HOME/go/bin"
log() { echo "s3server: $*" >&2; }

if ! command -v versitygw >/dev/null 2>&1; then
  log "installing versitygw $VERSITYGW_VERSION into $HOME/go/bin"
  t0=$SECONDS
  GOBIN="$HOME/go/bin" go install "$VERSITYGW_MODULE@$VERSITYGW_VERSION" >&2
  log "installed in $((SECONDS - t0)) s"
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=${PARLEY_TEST_S3_PORT:-17070}
while port_busy "$port"; do port=$((port + 1)); done

dir=$(mktemp -d "${TMPDIR:-/tmp}/parley-s3.XXXXXX")
# setsid and redirected stdio: the server must outlive this script and must
# not hold the $(...) of the caller open.
setsid versitygw --access "$ACCESS_KEY" --secret "$SECRET_KEY" \
  --port "127.0.0.1:$port" --quiet posix "$dir" \
  >"$dir.log" 2>&1 </dev/null &
pid=$!

start=$(date +%s%N)
for _ in $(seq 300); do
  if port_busy "$port"; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    log "versitygw exited:"; cat "$dir.log" >&2; exit 1
  fi
  sleep 0.05
done
if ! port_busy "$port"; then
  log "versitygw not ready on 127.0.0.1:$port after 15 s:"; cat "$dir.log" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
fi
log "versitygw (pid $pid) ready on 127.0.0.1:$port in $(( ($(date +%s%N) - start) / 1000000 )) ms, data in $dir"

# The bucket is made by the tests (s3blob.Config.CreateBucket).
echo "export PARLEY_TEST_S3_ENDPOINT=http://127.0.0.1:$port"
echo "export PARLEY_TEST_S3_ACCESS_KEY=$ACCESS_KEY"
echo "export PARLEY_TEST_S3_SECRET_KEY=$SECRET_KEY"
echo "export PARLEY_TEST_S3_BUCKET=$BUCKET"
echo "export PARLEY_TEST_S3_PID=$pid"
