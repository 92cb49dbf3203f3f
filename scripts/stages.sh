#!/usr/bin/env bash
# stages.sh runs make targets one after the other as named stages: it prints
# each stage's name when it starts and its time when it ends, stops at the
# first failing stage and says which one failed, and ends with a table of
# the stages' times. `make test` runs through it so a red CI names its stage.
set -uo pipefail
MAKE=${MAKE:-make}
declare -a names=() times=() results=()
summary() {
	echo
	echo "== stages"
	for i in "${!names[@]}"; do
		printf '   %-20s %6ss  %s\n' "${names[$i]}" "${times[$i]}" "${results[$i]}"
	done
}
total_start=$(date +%s)
for stage in "$@"; do
	echo "== stage $stage"
	start=$(date +%s)
	$MAKE --no-print-directory "$stage"
	rc=$?
	secs=$(( $(date +%s) - start ))
	names+=("$stage"); times+=("$secs")
	if [ $rc -ne 0 ]; then
		results+=("FAILED (exit $rc)")
		summary
		echo "== FAILED: stage $stage (exit $rc after ${secs}s); rerun it alone with: make $stage"
		exit $rc
	fi
	results+=("ok")
	echo "== stage $stage ok in ${secs}s"
done
summary
echo "== all stages passed in $(( $(date +%s) - total_start ))s"
