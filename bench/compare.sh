#!/usr/bin/env bash
# compare.sh runs scripts/bench.sh's write sweep once per raftkv build, back
# to back (then again in reverse order, to even out a machine whose load
# drifts), and prints one Markdown table with every run.
#
#   bench/compare.sh LABEL=COMMIT [LABEL=COMMIT...]     (COMMIT "." = the work tree)
#   DURATION=5s LEVELS=1,8,32,128 ROUNDS=2 bench/compare.sh base=abc123 new=.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-2}
export DURATION=${DURATION:-5s} WARMUP=${WARMUP:-1s} LEVELS=${LEVELS:-1,8,32,128} TRIALS=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/raftkv-compare.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

labels=()
for spec in "$@"; do
	label=${spec%%=*} commit=${spec#*=}
	labels+=("$label")
	if [[ "$commit" == "." ]]; then
		CGO_ENABLED=0 go build -o "$TMP/$label/" ./cmd/raftkv
	else
		mkdir -p "$TMP/src-$label"
		git archive "$commit" | tar -x -C "$TMP/src-$label"
		(cd "$TMP/src-$label" && CGO_ENABLED=0 go build -o "$TMP/$label/" ./cmd/raftkv)
	fi
done

order=("${labels[@]}")
echo "| build | load avg | clients | writes/s | p50 ms | p90 ms | p99 ms | max ms | errors |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
for ((r = 0; r < ROUNDS; r++)); do
	for label in "${order[@]}"; do
		load=$(cut -d' ' -f1 /proc/loadavg)
		NODE_BIN="$TMP/$label/raftkv" OUT="$TMP/$label.md" KEEP=0 scripts/bench.sh >"$TMP/$label.log" 2>&1 ||
			{ echo "run of $label failed:" >&2; tail -20 "$TMP/$label.log" >&2; exit 1; }
		grep -E '^\| [0-9]' "$TMP/$label.md" | awk -v l="$label" -v a="$load" -F'|' \
			'{printf "| %s | %s |%s|%s|%s|%s|%s|%s|%s|\n", l, a, $2, $3, $4, $5, $6, $7, $8}'
	done
	# Reverse the order for the next round.
	rev=()
	for ((i = ${#order[@]} - 1; i >= 0; i--)); do rev+=("${order[i]}"); done
	order=("${rev[@]}")
done
