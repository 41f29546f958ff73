#!/usr/bin/env bash
# Prepares bench/.peer/rocketmq-client-go: rocketmq-client-go v2.1.2 as the module proxy
# serves it, plus mqgate's shim files (bench/peershim) that expose its internal codec and
# remoting client to the side-by-side benchmarks. The copy is scratch (git-ignored) and
# rebuilt when missing or when the shim changes; nothing of the peer is committed.
set -euo pipefail
cd "$(dirname "$0")"
PEER_VERSION=v2.1.2
dst=.peer/rocketmq-client-go
stamp=$(cat peershim/remote/*.go peershim/mqgateshim/*.go | sha256sum | cut -c1-16)-$PEER_VERSION
if [ -f "$dst/.mqgate-stamp" ] && [ "$(cat "$dst/.mqgate-stamp")" = "$stamp" ]; then
  exit 0
fi
src=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "github.com/apache/rocketmq-client-go/v2@$PEER_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "could not download rocketmq-client-go $PEER_VERSION"; exit 1; }
rm -rf "$dst" && mkdir -p "$(dirname "$dst")"
cp -R "$src" "$dst" && chmod -R u+w "$dst"
cp peershim/remote/*.go "$dst/internal/remote/"
mkdir -p "$dst/mqgateshim" && cp peershim/mqgateshim/*.go "$dst/mqgateshim/"
echo "$stamp" > "$dst/.mqgate-stamp"
