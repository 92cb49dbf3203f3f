#!/usr/bin/env bash
# churn.sh measures leadership churn on a busy machine: it starts one
# 3-node raftkv cluster per binary in BINS (on 127.0.0.1, fsync on, default
# election timeout 1s and heartbeat 100ms unless FLAGS says otherwise), all
# at the same time so they share the same load, keeps HOGS CPU hogs and a
# disk job (a loop of 4 MiB writes with fsync) running for DURATION seconds,
# and prints, per cluster, the term at the start and the end and the term
# changes per 10 minutes (read from GET /status of every node; the highest
# term counts). With WRITES=1 a light write loop (5 sets/s) runs against
# each cluster. With ETCD=path (make etcd builds bin/etcd/<version>/etcd) a
# 3-node etcd cluster runs next to them, with the same election timeout and
# heartbeat (ELECTION_MS, HEARTBEAT_MS; raftkv's defaults), its term read
# from /v3/maintenance/status. Everything it starts ends with the script
# (trap).
#
#   BINS="/tmp/raftkv-before bin/raftkv" ETCD=bin/etcd/v3.7.3/etcd DURATION=600 bench/churn.sh
#   HOGS=0 DISK=0 DURATION=600 bench/churn.sh       # idle baseline
#
# Needs: curl, jq.
set -euo pipefail
cd "$(dirname "$0")/.."
BINS=${BINS:-bin/raftkv}
DURATION=${DURATION:-600}
HOGS=${HOGS:-$(( 2 * $(nproc) ))}
DISK=${DISK:-1}
WRITES=${WRITES:-0}
FLAGS=${FLAGS:-}
BASE=${BASE:-17100}
ETCD=${ETCD:-}
ELECTION_MS=${ELECTION_MS:-1000}
HEARTBEAT_MS=${HEARTBEAT_MS:-100}
work=$(mktemp -d "${TMPDIR:-/tmp}/raftkv-churn.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

# term PORT prints one node's term: raftkv's GET /status, or etcd's
# maintenance status (its client port is PORT with an "e" in front).
term() {
	if [[ $1 == e* ]]; then
		curl -fsS --max-time 5 -X POST "http://127.0.0.1:${1#e}/v3/maintenance/status" -d '{}' 2>/dev/null | jq -r '.raftTerm // 0' 2>/dev/null || echo 0
	else
		curl -fsS --max-time 5 "http://127.0.0.1:$1/status" 2>/dev/null | jq -r '.term // 0' 2>/dev/null || echo 0
	fi
}

# has_leader PORT: the node knows a leader.
has_leader() {
	if [[ $1 == e* ]]; then
		curl -fsS --max-time 5 -X POST "http://127.0.0.1:${1#e}/v3/maintenance/status" -d '{}' 2>/dev/null | jq -e '(.leader // "0") != "0"' >/dev/null 2>&1
	else
		curl -fsS --max-time 5 "http://127.0.0.1:$1/status" 2>/dev/null | jq -e '.leader != ""' >/dev/null 2>&1
	fi
}

# write_loop PORT: 5 sets a second to one key, through the store's HTTP API.
write_loop() {
	local n=0
	while :; do
		n=$((n + 1))
		if [[ $1 == e* ]]; then
			curl -s --max-time 2 -X POST "http://127.0.0.1:${1#e}/v3/kv/put" \
				-d "{\"key\":\"$(printf churn | base64)\",\"value\":\"$(printf "v$n" | base64)\"}" >/dev/null
		else
			curl -s --max-time 2 -XPUT -H 'Content-Type: application/json' -d "{\"value\":\"v$n\"}" "http://127.0.0.1:$1/kv/churn" >/dev/null
		fi
		sleep 0.2
	done
}

maxterm() { # api ports...
	local best=0 t
	for port in "$@"; do
		t=$(term "$port")
		[[ "$t" =~ ^[0-9]+$ ]] && (( t > best )) && best=$t
	done
	echo "$best"
}

declare -a names apis
c=0
for bin in $BINS; do
	raft=$((BASE + 10 * c)); api=$((raft + 5))
	cluster="127.0.0.1:$raft,127.0.0.1:$((raft + 1)),127.0.0.1:$((raft + 2))"
	ports=()
	for i in 0 1 2; do
		mkdir -p "$work/c$c/node$i"
		# shellcheck disable=SC2086
		"$bin" --id "node$i" --host 127.0.0.1 --port $((raft + i)) --api-port $((api + i)) \
			--cluster "$cluster" --data-dir "$work/c$c/node$i" $FLAGS >"$work/c$c/node$i.log" 2>&1 &
		pids+=($!)
		ports+=($((api + i)))
	done
	names[c]=$bin; apis[c]="${ports[*]}"
	c=$((c + 1))
done
if [[ -n "$ETCD" ]]; then
	peer=$((BASE + 10 * c)); client=$((peer + 5))
	initial="e0=http://127.0.0.1:$peer,e1=http://127.0.0.1:$((peer + 1)),e2=http://127.0.0.1:$((peer + 2))"
	ports=()
	for i in 0 1 2; do
		mkdir -p "$work/c$c"
		"$ETCD" --name "e$i" --data-dir "$work/c$c/node$i" \
			--listen-peer-urls "http://127.0.0.1:$((peer + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((peer + i))" \
			--listen-client-urls "http://127.0.0.1:$((client + i))" --advertise-client-urls "http://127.0.0.1:$((client + i))" \
			--initial-cluster "$initial" --initial-cluster-state new --initial-cluster-token "churn-$peer" \
			--election-timeout "$ELECTION_MS" --heartbeat-interval "$HEARTBEAT_MS" >"$work/c$c/node$i.log" 2>&1 &
		pids+=($!)
		ports+=("e$((client + i))")
	done
	names[c]="etcd ($("$ETCD" --version | awk 'NR == 1 {print $3}'))"; apis[c]="${ports[*]}"
	c=$((c + 1))
fi

# Wait for a leader in every cluster (generous: the machine may be busy).
for ((i = 0; i < c; i++)); do
	for _ in $(seq 600); do
		# shellcheck disable=SC2086
		[[ $(maxterm ${apis[i]}) -gt 0 ]] && has_leader "${apis[i]%% *}" && break
		sleep 0.1
	done
done

for _ in $(seq "$HOGS"); do
	timeout "$((DURATION + 60))" sh -c 'while :; do :; done' &
	pids+=($!)
done
if [[ "$DISK" == 1 ]]; then
	timeout "$((DURATION + 60))" sh -c "while :; do dd if=/dev/zero of=$work/disk bs=4M count=1 conv=fsync status=none; done" &
	pids+=($!)
fi
if [[ "$WRITES" == 1 ]]; then
	for ((i = 0; i < c; i++)); do
		write_loop "${apis[i]%% *}" &
		pids+=($!)
	done
fi

declare -a start
for ((i = 0; i < c; i++)); do
	# shellcheck disable=SC2086
	start[i]=$(maxterm ${apis[i]})
done
echo "churn: $c cluster(s), $HOGS CPU hogs, disk job $DISK, writes $WRITES, ${DURATION}s; load at start $(cut -d' ' -f1-3 /proc/loadavg)"
sleep "$DURATION"
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "| binary | term at start | term at end | term changes per 10 min | leader step-downs logged |"
echo "|---|---|---|---|---|"
for ((i = 0; i < c; i++)); do
	# shellcheck disable=SC2086
	end=$(maxterm ${apis[i]})
	# raftkv logs a check-quorum step-down as "stepped down"; etcd's
	# wording differs, so its column stays empty.
	steps=-
	[[ ${apis[i]} == e* ]] || steps=$(cat "$work/c$i"/node*.log | grep -c "stepped down" || true)
	echo "| ${names[i]} | ${start[i]} | $end | $(( (end - start[i]) * 600 / DURATION )) | $steps |"
done
echo
echo "load average at the end: $load"
