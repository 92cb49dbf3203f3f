#!/bin/sh
# build.sh builds the raftkv image from the working tree, without pulling
# anything: it compiles static binaries on the host, assembles a build
# context in a temporary directory and runs docker build on it.
#
# Usage: docker/build.sh [TAG...]
# Default tags: raftkv:latest and raftkv:$(git describe --always --dirty).
# Env: GO (default go), DOCKER (default docker).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
GO=${GO:-go}
DOCKER=${DOCKER:-docker}

if [ "$#" -eq 0 ]; then
	describe=$(git -C "$root" describe --always --dirty 2>/dev/null || echo dev)
	set -- raftkv:latest "raftkv:$describe"
fi

ctx=$(mktemp -d "${TMPDIR:-/tmp}/raftkv-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT INT TERM

echo "build.sh: compiling static binaries" >&2
(cd "$root" && CGO_ENABLED=0 "$GO" build -ldflags='-s -w' -o "$ctx/" ./cmd/raftkv ./cmd/raftkvctl)

mkdir -p "$ctx/etc" "$ctx/data"
echo 'raftkv:x:65532:65532:raftkv:/data:/sbin/nologin' >"$ctx/etc/passwd"
echo 'raftkv:x:65532:' >"$ctx/etc/group"
cp "$root/docker/Dockerfile" "$ctx/Dockerfile"

tags=""
for t in "$@"; do tags="$tags -t $t"; done
echo "build.sh: docker build$tags" >&2
# shellcheck disable=SC2086 # tags are words on purpose
"$DOCKER" build -q $tags "$ctx"
