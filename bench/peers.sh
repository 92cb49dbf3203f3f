#!/usr/bin/env bash
# peers.sh measures raftkv next to etcd and hashicorp/raft (hraftd) on this
# machine with the same load: for each store it starts a fresh 3-node cluster
# on 127.0.0.1 (data in temporary directories under ${TMPDIR:-/tmp}, fsync on,
# each store's default snapshot settings), runs a closed-loop write sweep
# against the leader (unique keys, VALUE_SIZE-byte values, WARMUP seconds of
# warm-up then DURATION seconds measured per level), stops the cluster and
# prints Markdown tables.
#
# It does not fetch or build etcd or hraftd; point it at binaries you built
# (bench/peers.md says which versions were measured and how to build them):
#
#   ETCD_BIN=/path/etcd ETCD_BENCH_BIN=/path/benchmark HRAFTD_BIN=/path/hraftd bench/peers.sh
#   STORES=raftkv,raftkv-ctl bench/peers.sh      # raftkv only (bin/ from `make build`)
#   ROUNDS=2 LEVELS=1,8,32,128 DURATION=10 WARMUP=2 bench/peers.sh
#   RAW=/tmp/peers-raw bench/peers.sh            # keep every tool's raw output there
#
# Stores (STORES, in this order every round):
#   etcd       etcd's own `benchmark put` (gRPC), one connection per client
#   hraftd     wrk, POST /key {"<key>":"<value>"}, one connection per client
#   raftkv     wrk, POST /command {"operation":"set",...}, the same way
#   raftkv-ctl `raftkvctl bench` (raftkv's own Go load generator)
# A store whose binary is not set or not executable is skipped with a note.
#
# Every store's run (cluster start, sweep, stop) holds an exclusive flock on
# LOCK, so it never overlaps with another benchmark that takes the same lock.
# Needs: bash, curl, jq, wrk, flock, ss.
set -euo pipefail

cd "$(dirname "$0")/.."
ETCD_BIN=${ETCD_BIN:-}
ETCD_BENCH_BIN=${ETCD_BENCH_BIN:-}
HRAFTD_BIN=${HRAFTD_BIN:-}
RAFTKV_BIN=${RAFTKV_BIN:-bin/raftkv}
RAFTKVCTL_BIN=${RAFTKVCTL_BIN:-bin/raftkvctl}
RAFTKV_LABEL=${RAFTKV_LABEL:-$(git describe --always --dirty 2>/dev/null || echo unknown)}
STORES=${STORES:-etcd,hraftd,raftkv,raftkv-ctl}
LEVELS=${LEVELS:-1,8,32,128}
DURATION=${DURATION:-10} # seconds measured per level
WARMUP=${WARMUP:-2}      # seconds of warm-up per level
VALUE_SIZE=${VALUE_SIZE:-256}
ROUNDS=${ROUNDS:-1}
WRK_THREADS=${WRK_THREADS:-2}
LOCK=${LOCK:-/tmp/raftkv-bench.lock}
RAW=${RAW:-}

die() {
	echo "peers.sh: $*" >&2
	exit 1
}
for v in DURATION WARMUP VALUE_SIZE ROUNDS WRK_THREADS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (seconds or a count), got '${!v}'"
done
[[ $LEVELS =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "LEVELS must look like 1,8,32,128, got '$LEVELS'"
IFS=, read -r -a levels <<<"$LEVELS"
IFS=, read -r -a stores <<<"$STORES"
for s in "${stores[@]}"; do
	case $s in etcd | hraftd | raftkv | raftkv-ctl) ;; *) die "unknown store '$s' in STORES (etcd, hraftd, raftkv, raftkv-ctl)" ;; esac
done
for tool in curl jq flock ss; do
	command -v "$tool" >/dev/null || die "needs $tool"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/raftkv-peers.XXXXXX")
[[ -n $RAW ]] || RAW=$WORK/raw
mkdir -p "$RAW"
RESULTS=$RAW/results.tsv # kept with the raw outputs if a run dies
: >"$RESULTS"
NOTES=$WORK/notes
: >"$NOTES"
pids=()

stop_all() {
	local pid
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	pids=()
}
cleanup() {
	stop_all
	rm -rf "$WORK" # RAW, when given, lies elsewhere and stays
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start LOG CMD... runs a server in the background without the lock's file
# descriptor (a server left behind must not keep holding the lock).
start() {
	local log=$1
	shift
	"$@" </dev/null >>"$log" 2>&1 9>&- &
	pids+=("$!")
}

# shellcheck source=scripts/lib/ports.sh
source scripts/lib/ports.sh

# wait_for DESCRIPTION COMMAND... polls COMMAND for up to 30 s.
wait_for() {
	local what=$1
	shift
	for _ in $(seq 1 300); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "timed out waiting for $what; the logs end:" >&2
	tail -n 5 "$WORK"/data/*.log >&2 || true
	return 1
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# record STORE GENERATOR CLIENTS WRITES_PER_S P50 P90 P99 ERRORS SECONDS LOAD
record() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$@" >>"$RESULTS"
}

# ---- wrk (hraftd and raftkv) ----

# The script gives every request a key of its own: run tag, thread, counter.
cat >"$WORK/write.lua" <<'EOF'
local threads = 0
function setup(thread)
	thread:set("tid", threads)
	threads = threads + 1
end
function init(args)
	prefix = args[1] .. "-" .. tid .. "-"
	kind = args[2]
	local letters = {}
	for i = 0, tonumber(args[3]) - 1 do
		letters[#letters + 1] = string.char(97 + i % 26)
	end
	value = table.concat(letters)
	counter = 0
	headers = { ["Content-Type"] = "application/json" }
end
function request()
	counter = counter + 1
	local key = prefix .. counter
	if kind == "raftkv" then
		return wrk.format("POST", "/command", headers,
			'{"operation":"set","key":"' .. key .. '","value":"' .. value .. '"}')
	end
	return wrk.format("POST", "/key", headers, '{"' .. key .. '":"' .. value .. '"}')
end
EOF

# wrk_ms converts wrk's 1.23us / 4.56ms / 1.2s to milliseconds.
wrk_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
		printf "%.2f", n
	}'
}

# wrk_sweep STORE KIND URL: warm-up, then the measured run, per level.
wrk_sweep() {
	local store=$1 kind=$2 url=$3 n t out load reqs secs bad sockerr
	command -v wrk >/dev/null || die "needs wrk"
	for n in "${levels[@]}"; do
		t=$((n < WRK_THREADS ? n : WRK_THREADS))
		wrk -t "$t" -c "$n" -d "${WARMUP}s" --timeout 10s -s "$WORK/write.lua" "$url" -- "w$round-$n-$RANDOM" "$kind" "$VALUE_SIZE" >"$RAW/$store-r$round-c$n-warmup.txt"
		load=$(loadavg)
		out=$RAW/$store-r$round-c$n.txt
		wrk -t "$t" -c "$n" -d "${DURATION}s" --timeout 10s --latency -s "$WORK/write.lua" "$url" -- "m$round-$n-$RANDOM" "$kind" "$VALUE_SIZE" >"$out"
		reqs=$(awk '/requests in/ {print $1}' "$out")
		secs=$(awk '/requests in/ {sub(/s,$/, "", $4); print $4}' "$out")
		bad=$(awk '/Non-2xx/ {print $NF}' "$out")
		sockerr=$(awk -F'[ ,]+' '/Socket errors/ {print $5 + $7 + $9 + $11}' "$out")
		bad=$((${bad:-0} + ${sockerr:-0}))
		record "$store" wrk "$n" \
			"$(awk -v r="$reqs" -v b="$bad" -v s="$secs" 'BEGIN {printf "%.0f", (r - b) / s}')" \
			"$(wrk_ms "$(awk '$1 == "50%" {print $2}' "$out")")" \
			"$(wrk_ms "$(awk '$1 == "90%" {print $2}' "$out")")" \
			"$(wrk_ms "$(awk '$1 == "99%" {print $2}' "$out")")" \
			"$bad" "$secs" "$load"
		echo "  $store $n clients: $(grep Requests/sec "$out")"
	done
}

# ---- etcd ----

etcd_status() { curl -fsS -m 2 -X POST "http://$1/v3/maintenance/status" -d '{}'; }
etcd_all_have_leader() {
	local ep
	for ep in "${eps[@]}"; do
		[[ $(etcd_status "$ep" | jq -r '.leader // "0"') != 0 ]] || return 1
	done
}
etcd_leader() {
	local ep
	for ep in "${eps[@]}"; do
		etcd_status "$ep" | jq -e '.leader == .header.member_id' >/dev/null && { echo "$ep"; return 0; }
	done
	return 1
}

# etcd_put ENDPOINT CLIENTS TOTAL OUT runs one `benchmark put`; --key-space-size
# above TOTAL with --sequential-keys gives every put of the run its own key.
etcd_put() {
	"$ETCD_BENCH_BIN" put --endpoints "$1" --clients "$2" --conns "$2" --total "$3" \
		--key-size 8 --val-size "$VALUE_SIZE" --sequential-keys --key-space-size $(($3 + 1)) --precise >"$4" 2>"$4.stderr"
}
etcd_field() { awk -v k="$2" '$1 == k {print $2}' "$1"; }
etcd_pct() { awk -v p="$2%" '$1 == p && $2 == "in" {printf "%.2f", $3 * 1000}' "$1"; }

# etcd_start starts the cluster and sets eps and leader; it fails (for a retry
# on other ports) when the cluster does not come up.
etcd_start() {
	local base i cluster=""
	base=$(pick_base) || return 1
	eps=()
	for i in 0 1 2; do
		cluster+="${cluster:+,}e$i=http://127.0.0.1:$((base + i))"
		eps+=("127.0.0.1:$((base + 100 + i))")
	done
	for i in 0 1 2; do
		start "$WORK/data/etcd$i.log" "$ETCD_BIN" --name "e$i" --data-dir "$WORK/data/etcd$i" \
			--listen-peer-urls "http://127.0.0.1:$((base + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((base + i))" \
			--listen-client-urls "http://127.0.0.1:$((base + 100 + i))" --advertise-client-urls "http://127.0.0.1:$((base + 100 + i))" \
			--initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "peers-$base" --log-level warn
	done
	wait_for "an etcd leader" etcd_all_have_leader || return 1
	leader=$(etcd_leader) || return 1
	echo "  etcd leader at $leader"
}

etcd_sweep() {
	local n total rate secs out load errs
	for n in "${levels[@]}"; do
		# Warm-up that also measures the rate, so that the measured run's
		# fixed --total lasts about DURATION seconds.
		total=$((n * 100))
		for _ in 1 2 3; do
			etcd_put "$leader" "$n" "$total" "$RAW/etcd-r$round-c$n-warmup.txt"
			rate=$(etcd_field "$RAW/etcd-r$round-c$n-warmup.txt" Requests/sec:)
			secs=$(etcd_field "$RAW/etcd-r$round-c$n-warmup.txt" Total:)
			awk -v s="$secs" -v w="$WARMUP" 'BEGIN {exit !(s >= 0.75 * w)}' && break
			total=$(awk -v r="$rate" -v w="$WARMUP" 'BEGIN {printf "%d", r * w + 1}')
		done
		total=$(awk -v r="$rate" -v d="$DURATION" 'BEGIN {printf "%d", r * d + 1}')
		load=$(loadavg)
		out=$RAW/etcd-r$round-c$n.txt
		etcd_put "$leader" "$n" "$total" "$out"
		errs=$(awk '/^Error distribution/ {on = 1; next} on && /^ *\[/ {gsub(/[][]/, "", $1); e += $1} END {print e + 0}' "$out")
		record etcd "benchmark put" "$n" \
			"$(awk -v r="$(etcd_field "$out" Requests/sec:)" 'BEGIN {printf "%.0f", r}')" \
			"$(etcd_pct "$out" 50)" "$(etcd_pct "$out" 90)" "$(etcd_pct "$out" 99)" \
			"$errs" "$(awk -v s="$(etcd_field "$out" Total:)" 'BEGIN {printf "%.2f", s}')" "$load"
		echo "  etcd $n clients: $(grep Requests/sec "$out")"
	done
}

# ---- hraftd ----

hraftd_leader_is() { [[ $(curl -fsS -m 2 "http://$1/status" | jq -r '.leader.id') == "$2" ]]; }
hraftd_joined() {
	local ep
	[[ $(curl -fsS -m 2 "http://${eps[0]}/status" | jq '.followers | length') == 2 ]] || return 1
	for ep in "${eps[@]}"; do hraftd_leader_is "$ep" node0 || return 1; done
}

hraftd_start() {
	local base i
	base=$(pick_base) || return 1
	eps=()
	for i in 0 1 2; do eps+=("127.0.0.1:$((base + 100 + i))"); done
	# node0 bootstraps a one-node cluster; the others ask it to add them once
	# it leads (hraftd ignores the answer to a join, so wait before joining).
	start "$WORK/data/hraftd0.log" "$HRAFTD_BIN" -id node0 -haddr "${eps[0]}" -raddr "127.0.0.1:$base" "$WORK/data/hraftd0"
	wait_for "hraftd node0 to lead" hraftd_leader_is "${eps[0]}" node0 || return 1
	for i in 1 2; do
		start "$WORK/data/hraftd$i.log" "$HRAFTD_BIN" -id "node$i" -haddr "${eps[i]}" -raddr "127.0.0.1:$((base + i))" \
			-join "${eps[0]}" "$WORK/data/hraftd$i"
	done
	wait_for "hraftd nodes to join" hraftd_joined || return 1
	leader=${eps[0]}
	echo "  hraftd leader at $leader"
}

# ---- raftkv ----

raftkv_ready() {
	local ep
	for ep in "${eps[@]}"; do curl -fsS -m 2 -o /dev/null "http://$ep/readyz" || return 1; done
}
raftkv_leader() {
	local ep
	for ep in "${eps[@]}"; do
		[[ $(curl -fsS -m 2 "http://$ep/status" | jq -r .role) == leader ]] && { echo "$ep"; return 0; }
	done
	return 1
}

raftkv_start() {
	local base i cluster=""
	base=$(pick_base) || return 1
	eps=()
	for i in 0 1 2; do
		cluster+="${cluster:+,}node$i=127.0.0.1:$((base + i))"
		eps+=("127.0.0.1:$((base + 100 + i))")
	done
	for i in 0 1 2; do
		start "$WORK/data/raftkv$i.log" "$RAFTKV_BIN" --id "node$i" --host 127.0.0.1 --port $((base + i)) --api-port $((base + 100 + i)) \
			--cluster "$cluster" --data-dir "$WORK/data/raftkv$i" --log-level warn
	done
	wait_for "raftkv to be ready" raftkv_ready || return 1
	leader=$(raftkv_leader) || return 1
	echo "  raftkv leader at $leader"
}

raftkv_ctl_sweep() {
	local n out load w p50 p90 p99 errs
	for n in "${levels[@]}"; do
		load=$(loadavg)
		out=$RAW/raftkv-ctl-r$round-c$n.json
		"$RAFTKVCTL_BIN" --endpoints "$(
			IFS=,
			echo "${eps[*]}"
		)" --timeout 5s -o json bench --clients "$n" --duration "${DURATION}s" --warmup "${WARMUP}s" --value-size "$VALUE_SIZE" >"$out"
		read -r w p50 p90 p99 errs < <(jq -r '.[0] | "\(.writes_per_sec) \(.p50_ms) \(.p90_ms) \(.p99_ms) \(.errors)"' "$out" |
			awk '{printf "%.0f %.2f %.2f %.2f %d\n", $1, $2, $3, $4, $5}')
		record raftkv-ctl "raftkvctl bench" "$n" "$w" "$p50" "$p90" "$p99" "$errs" "$DURATION.00" "$load"
		echo "  raftkv-ctl $n clients: $(jq -r '.[0].writes_per_sec | floor' "$out") writes/s"
	done
}

# ---- main ----

bin_ok() { [[ -n $1 && -x $1 ]]; }
runnable() {
	case $1 in
	etcd) bin_ok "$ETCD_BIN" && bin_ok "$ETCD_BENCH_BIN" ;;
	hraftd) bin_ok "$HRAFTD_BIN" && command -v wrk >/dev/null ;;
	raftkv) bin_ok "$RAFTKV_BIN" && command -v wrk >/dev/null ;;
	raftkv-ctl) bin_ok "$RAFTKV_BIN" && bin_ok "$RAFTKVCTL_BIN" ;;
	esac
}

loads=() # "round N store: load average", in the order run
for ((round = 1; round <= ROUNDS; round++)); do
	for s in "${stores[@]}"; do
		if ! runnable "$s"; then
			echo "- $s skipped: its binaries (ETCD_BIN/ETCD_BENCH_BIN, HRAFTD_BIN, RAFTKV_BIN/RAFTKVCTL_BIN) or wrk are missing" >>"$NOTES"
			continue
		fi
		exec 9>>"$LOCK"
		echo "round $round, $s: waiting for $LOCK..."
		flock 9
		loads+=("round $round $s: $(loadavg)")
		echo "round $round, $s: load average $(loadavg)"
		for attempt in 1 2 3; do
			rm -rf "$WORK/data"
			mkdir -p "$WORK/data"
			# (set -e does not apply inside a condition: the starts check each step.)
			if "${s%-ctl}_start"; then
				break
			fi
			stop_all
			cp "$WORK"/data/*.log "$RAW/" 2>/dev/null || true
			((attempt < 3)) || die "$s did not start three times; logs in $RAW"
			echo "  $s did not start (attempt $attempt); again on other ports"
		done
		case $s in
		etcd) etcd_sweep ;;
		hraftd) wrk_sweep hraftd hraftd "http://$leader" ;;
		raftkv) wrk_sweep raftkv raftkv "http://$leader" ;;
		raftkv-ctl) raftkv_ctl_sweep ;;
		esac
		stop_all
		cp "$WORK"/data/*.log "$RAW/" 2>/dev/null || true
		rm -rf "$WORK/data"
		flock -u 9
		exec 9>&-
	done
done

etcd_version=unknown hraftd_raft=unknown
bin_ok "$ETCD_BIN" && etcd_version=$("$ETCD_BIN" --version | awk '/etcd Version/ {v = $3} /Git SHA/ {s = $3} END {print v " (" s ")"}')
bin_ok "$HRAFTD_BIN" && hraftd_raft=$(go version -m "$HRAFTD_BIN" 2>/dev/null | awk '$1 == "dep" && $2 ~ /hashicorp\/raft|bbolt/ {printf "%s%s %s", sep, $2, $3; sep = ", "}')

echo
echo "## raftkv vs etcd vs hraftd (bench/peers.sh)"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores, $(uname -sr)"
echo "- etcd $etcd_version; hraftd with ${hraftd_raft:-unknown}; raftkv $RAFTKV_LABEL"
echo "- 3 nodes each on 127.0.0.1, data under ${TMPDIR:-/tmp}, fsync on, default snapshot settings; load to the leader, closed loop, unique keys, $VALUE_SIZE-byte values, ${WARMUP} s warm-up then ${DURATION} s per level; the load generator shares the cores"
for l in "${loads[@]}"; do echo "- load average (1/5/15 min) before $l"; done
cat "$NOTES"
echo
echo "| round | store | load generator | clients | writes/s | p50 ms | p90 ms | p99 ms | errors | measured s | load avg before level |"
echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11}' "$RESULTS"
echo
echo "Mean over rounds, writes/s (p50 / p99 ms):"
echo
header="| clients |" sep="|---:|"
for s in "${stores[@]}"; do
	header+=" $s |"
	sep+="---:|"
done
echo "$header"
echo "$sep"
for n in "${levels[@]}"; do
	row="| $n |"
	for s in "${stores[@]}"; do
		row+=" $(awk -F'\t' -v s="$s" -v n="$n" '$2 == s && $4 == n {w += $5; p += $6; q += $8; k++}
			END {if (k) printf "%.0f (%.2f / %.2f)", w / k, p / k, q / k; else printf "-"}' "$RESULTS") |"
	done
	echo "$row"
done
if [[ $RAW != "$WORK/raw" ]]; then
	echo
	echo "Raw outputs: $RAW"
fi
