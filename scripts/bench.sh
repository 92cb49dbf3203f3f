#!/usr/bin/env bash
# bench.sh (make bench) builds raftkv, starts a fresh local 3-node cluster
# (temporary data directories, free ports on 127.0.0.1), sweeps the write
# load over 1, 8, 32 and 128 closed-loop clients, measures failover by
# killing the leader (SIGKILL) TRIALS times, writes bench/results.md and
# stops the cluster.
#
#   scripts/bench.sh                         # the defaults below
#   DURATION=5s LEVELS=1,32 scripts/bench.sh # a quicker sweep
#   OUT=/tmp/r.md scripts/bench.sh           # write the table elsewhere
#   KEEP=1 scripts/bench.sh                  # keep the data dirs and logs
#   TRIALS=0 scripts/bench.sh                # sweep only, no failover
#   NODE_BIN=/tmp/old/raftkv scripts/bench.sh  # benchmark another raftkv build
#   NODE_FLAGS="--snapshot-every 1000000" scripts/bench.sh
#
# The cluster's processes are recorded in $WORK/<node>.pid; $WORK/<node>.restart
# restarts a node, which is how `raftkvctl bench failover` brings a killed
# leader back between trials.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
LEVELS=${LEVELS:-1,8,32,128}
VALUE_SIZE=${VALUE_SIZE:-256}
TRIALS=${TRIALS:-5}
ELECTION=${ELECTION:-1s}
HEARTBEAT=${HEARTBEAT:-100ms}
OUT=${OUT:-bench/results.md}
NODE_FLAGS=${NODE_FLAGS:-} # extra flags for every node

# Before anything is written: the report itself must not make the tree dirty.
GIT_REV=$(git describe --always --dirty 2>/dev/null || echo unknown)
echo "building $BIN/raftkv and $BIN/raftkvctl..."
CGO_ENABLED=0 go build -o "$BIN/" ./cmd/raftkv ./cmd/raftkvctl
BIN=$(cd "$BIN" && pwd)
NODE_BIN=${NODE_BIN:-$BIN/raftkv}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/raftkv-bench.XXXXXX")

# shellcheck source=scripts/lib/ports.sh
source scripts/lib/ports.sh
BASE=$(pick_base) || exit 1
NAMES=(node0 node1 node2)
cluster=""
endpoints=""
for i in 0 1 2; do
	cluster+="${cluster:+,}${NAMES[i]}=127.0.0.1:$((BASE + i))"
	endpoints+="${endpoints:+,}127.0.0.1:$((BASE + 100 + i))"
done

# One restart script per node: it starts the node detached, appending to its
# log, and records its PID. The first start uses it too.
for i in 0 1 2; do
	n=${NAMES[i]}
	cat >"$WORK/$n.restart" <<EOF
#!/usr/bin/env bash
setsid "$NODE_BIN" --id $n --host 127.0.0.1 --port $((BASE + i)) --api-port $((BASE + 100 + i)) \\
	--cluster "$cluster" --data-dir "$WORK/$n" \\
	--election-timeout $ELECTION --heartbeat-interval $HEARTBEAT --log-level warn $NODE_FLAGS \\
	</dev/null >>"$WORK/$n.log" 2>&1 &
echo \$! >"$WORK/$n.pid"
EOF
	chmod +x "$WORK/$n.restart"
done

stop_cluster() {
	for n in "${NAMES[@]}"; do
		if [[ -f "$WORK/$n.pid" ]]; then
			kill -TERM "$(cat "$WORK/$n.pid")" 2>/dev/null || true
		fi
	done
	for n in "${NAMES[@]}"; do
		if [[ -f "$WORK/$n.pid" ]]; then
			pid=$(cat "$WORK/$n.pid")
			for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	if [[ "${KEEP:-0}" == 1 ]]; then
		echo "kept $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap stop_cluster EXIT

for n in "${NAMES[@]}"; do "$WORK/$n.restart"; done
echo "cluster: raft $BASE-$((BASE + 2)), api $endpoints, data $WORK"

ctl() { "$BIN/raftkvctl" --endpoints "$endpoints" --timeout 5s "$@"; }

# Ready: every node answers /readyz.
for _ in $(seq 1 200); do
	ok=1
	for ep in ${endpoints//,/ }; do
		curl -fsS -o /dev/null "http://$ep/readyz" 2>/dev/null || ok=0
	done
	((ok)) && break
	sleep 0.1
done
((ok)) || { echo "cluster did not become ready" >&2; tail -n 20 "$WORK"/*.log >&2; exit 1; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average before: $load_before; sweeping $LEVELS clients for $DURATION each..."
ctl -o json bench --clients "$LEVELS" --duration "$DURATION" --warmup "$WARMUP" --value-size "$VALUE_SIZE" >"$WORK/sweep.json"
load_after_sweep=$(cut -d' ' -f1-3 /proc/loadavg)

if ((TRIALS > 0)); then
	echo "failover: $TRIALS trials..."
	ctl -o json bench failover --trials "$TRIALS" --pid-dir "$WORK" --election-timeout "$ELECTION" >"$WORK/failover.json"
else
	echo '{"trials":[],"median_ms":0,"min_ms":0,"max_ms":0,"election_timeout_ms":0}' >"$WORK/failover.json"
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# Render the Markdown report from the two JSON files.
mkdir -p "$(dirname "$OUT")"
{
	echo "# raftkv benchmark results"
	echo
	echo "Written by \`scripts/bench.sh\` (\`make bench\`)."
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- git: $GIT_REV"
	echo "- machine: $(nproc) cores, $(uname -sr), $(go env GOVERSION)"
	echo "- load average (1/5/15 min): before $load_before, after the sweep $load_after_sweep, after failover $load_after"
	echo "- cluster: 3 local nodes on 127.0.0.1, bbolt with fsync, election timeout $ELECTION, heartbeat $HEARTBEAT"
	echo "- load: closed loop, clients send to the leader over keep-alive HTTP; every write a set of a unique key with a $VALUE_SIZE-byte value; $WARMUP warm-up, then $DURATION measured per level; the load generator runs on the same cores"
	echo
	echo "What each performance change did, measured before/after: bench/changes.md."
	echo
	echo "## Write sweep"
	echo
	echo "| clients | writes/s | p50 ms | p90 ms | p99 ms | max ms | errors | leader changes |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
	jq -r '.[] | "| \(.clients) | \(.writes_per_sec|floor) | \(.p50_ms) | \(.p90_ms) | \(.p99_ms) | \(.max_ms) | \(.errors) | \(.leader_changes) |"' "$WORK/sweep.json"
	echo
	echo "## Failover (leader killed with SIGKILL, time to the first acknowledged write)"
	echo
	if ((TRIALS > 0)); then
		echo "| trial | killed | ms to first write | new leader |"
		echo "|---:|---|---:|---|"
		jq -r '.trials | to_entries[] | "| \(.key+1) | \(.value.killed) | \(.value.ms_to_first_write|floor) | \(.value.new_leader) |"' "$WORK/failover.json"
		echo
		jq -r '"Median \(.median_ms|floor) ms (min \(.min_ms|floor), max \(.max_ms|floor)); the randomized election timeout is at most \(2*.election_timeout_ms|floor) ms."' "$WORK/failover.json"
	else
		echo "Not measured (TRIALS=0)."
	fi
	echo
	echo "## Targets"
	echo
	jq -r --slurpfile f "$WORK/failover.json" '
	  def lvl(n): map(select(.clients == n))[0];
	  def mark(c): if c then "met" else "**not met**" end;
	  (lvl(1)) as $a | (lvl(32)) as $b | (lvl(128)) as $c | ($f[0]) as $fo |
	  [ (if $a then "- 1 client p50 ≤ 0.8 ms: \($a.p50_ms) ms — \(mark($a.p50_ms <= 0.8))" else empty end),
	    (if $b then "- 32 clients ≥ 5,000 writes/s: \($b.writes_per_sec|floor) — \(mark($b.writes_per_sec >= 5000))" else empty end),
	    (if $c then "- 128 clients ≥ 7,500 writes/s with p99 < 50 ms: \($c.writes_per_sec|floor), p99 \($c.p99_ms) ms — \(mark($c.writes_per_sec >= 7500 and $c.p99_ms < 50))" else empty end),
	    (if ($fo.trials|length) > 0 then "- failover median ≤ 1.5 × \(2*$fo.election_timeout_ms|floor) ms = \(3*$fo.election_timeout_ms|floor) ms: \($fo.median_ms|floor) ms — \(mark($fo.median_ms <= 3*$fo.election_timeout_ms))" else "- failover: not measured" end),
	    "- no leader change during the sweep: \(map(.leader_changes)|add) — \(mark((map(.leader_changes)|add) == 0))"
	  ] | .[]' "$WORK/sweep.json"
} >"$OUT"
cat "$OUT"
