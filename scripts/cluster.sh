#!/usr/bin/env bash
# cluster.sh builds raftkv and runs a local cluster in the foreground:
# node i listens for raft on 7000+i and serves the API on 8000+i, with its
# data in $DATA_DIR/node<i> (default ./data). Every log line is prefixed with
# its node's name. Ctrl-C (or SIGTERM) stops every node cleanly.
#
#   scripts/cluster.sh                      # 3 nodes
#   NODES=5 scripts/cluster.sh              # 5 nodes
#   scripts/cluster.sh --read-mode lease    # extra flags go to every node
#   CLEAN=1 scripts/cluster.sh              # wipe the data directories first
#   TLS=1 scripts/cluster.sh                # mutual TLS, HTTPS API and tokens
#                                           # (make cluster-tls; docs/security.md)
#
# Then: bin/raftkvctl put k v; bin/raftkvctl get k; bin/raftkvctl status
set -euo pipefail

cd "$(dirname "$0")/.."
NODES=${NODES:-3}
HOST=${HOST:-localhost}
RAFT_BASE=${RAFT_BASE:-7000}
API_BASE=${API_BASE:-8000}
DATA_DIR=${DATA_DIR:-data}
BIN=${BIN:-bin}

echo "building $BIN/raftkv and $BIN/raftkvctl..."
CGO_ENABLED=0 go build -o "$BIN/" ./cmd/raftkv ./cmd/raftkvctl

CERT_DIR=${CERT_DIR:-certs}
if [[ "${TLS:-0}" == 1 && ! -f "$CERT_DIR/tokens.txt" ]]; then
	names=()
	for ((i = 0; i < NODES; i++)); do names+=("node$i"); done
	"$BIN/raftkvctl" certs --dir "$CERT_DIR" --tokens "${names[@]}"
fi
if [[ "${TLS:-0}" == 1 && ! -f "$CERT_DIR/node-token.txt" ]]; then
	# A certificate directory made before raftkvctl certs wrote it.
	(umask 077 && awk '$1 == "admin" {print $2}' "$CERT_DIR/tokens.txt" > "$CERT_DIR/node-token.txt")
fi

if [[ "${CLEAN:-0}" == 1 ]]; then
	for ((i = 0; i < NODES; i++)); do rm -rf "$DATA_DIR/node$i"; done
fi

cluster=""
for ((i = 0; i < NODES; i++)); do
	cluster+="${cluster:+,}$HOST:$((RAFT_BASE + i))"
done

colors=(32 34 35 36 33 31 92 94 95)
pids=()

stop_all() {
	trap - INT TERM
	echo "stopping ${#pids[@]} nodes..."
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait || true
	echo "all nodes stopped"
	exit 0
}
trap stop_all INT TERM

for ((i = 0; i < NODES; i++)); do
	if [[ -t 1 ]]; then
		prefix=$'\e['"${colors[i % ${#colors[@]}]}"'m[node'"$i"$']\e[0m '
	else
		prefix="[node$i] "
	fi
	sec=()
	if [[ "${TLS:-0}" == 1 ]]; then
		c="$CERT_DIR/node$i"
		sec=(--peer-cert "$c.pem" --peer-key "$c-key.pem" --peer-ca "$CERT_DIR/ca.pem"
			--cert "$c.pem" --key "$c-key.pem" --token-file "$CERT_DIR/tokens.txt"
			--node-token-file "$CERT_DIR/node-token.txt")
	fi
	"$BIN/raftkv" --id "node$i" --host "$HOST" --port $((RAFT_BASE + i)) --api-port $((API_BASE + i)) \
		--cluster "$cluster" --data-dir "$DATA_DIR/node$i" "${sec[@]}" "$@" \
		> >(while IFS= read -r line; do printf '%s%s\n' "$prefix" "$line"; done) 2>&1 &
	pids+=($!)
done

if [[ "${TLS:-0}" == 1 ]]; then
	echo "cluster of $NODES nodes with TLS: api https://$HOST:$API_BASE..; Ctrl-C stops it"
	echo "  set -a; . $CERT_DIR/tokens.env; set +a; export RAFTKV_CACERT=$CERT_DIR/ca.pem RAFTKV_TOKEN=\$RAFTKV_WRITE_TOKEN"
else
	echo "cluster of $NODES nodes: raft $HOST:$RAFT_BASE.., api http://$HOST:$API_BASE..; Ctrl-C stops it"
fi
wait || true
