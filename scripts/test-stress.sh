#!/usr/bin/env bash
# test-stress.sh runs `make test` RUNS times in a row (default 3) while CPU
# hogs keep every core busy (HOGS, default 2 per core), with the Go test
# cache off, to show that no test depends on scheduling speed. It stops at
# the first red run. The hogs end with the script (trap), and each is also
# bounded by HOG_LIMIT seconds so none can outlive a killed script.
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
HOGS=${HOGS:-$(( 2 * $(nproc) ))}
HOG_LIMIT=${HOG_LIMIT:-7200}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT INT TERM
for _ in $(seq "$HOGS"); do
	timeout "$HOG_LIMIT" sh -c 'while :; do :; done' &
	pids+=($!)
done
echo "test-stress: $HOGS CPU hogs on $(nproc) cores; $RUNS runs of make test with GOFLAGS=-count=1"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-count=1"
for run in $(seq "$RUNS"); do
	start=$(date +%s)
	echo "test-stress: run $run/$RUNS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	if ! make --no-print-directory test; then
		echo "test-stress: run $run/$RUNS FAILED after $(( $(date +%s) - start ))s"
		exit 1
	fi
	echo "test-stress: run $run/$RUNS passed in $(( $(date +%s) - start ))s"
done
echo "test-stress: $RUNS/$RUNS runs passed under load"
