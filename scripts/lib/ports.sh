# ports.sh, sourced by scripts/bench.sh and bench/peers.sh: pick_base prints
# a port base B such that B+0..2 (peer ports) and B+100..102 (client ports)
# are free on this machine.
#
# Bases come from 20000-32090, below Linux's default ephemeral range (32768
# and up), so that no client connection's local port can take them; a port
# counts as taken while any socket (listening or not) uses it.

port_free() { ! ss -tanH "sport = :$1" 2>/dev/null | grep -q .; }

pick_base() {
	local base i ok
	for _ in $(seq 1 50); do
		base=$((20000 + (RANDOM % 1210) * 10))
		ok=1
		for i in 0 1 2 100 101 102; do port_free $((base + i)) || ok=0; done
		if ((ok)); then
			echo "$base"
			return 0
		fi
	done
	echo "no free ports found" >&2
	return 1
}
