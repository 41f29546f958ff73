#!/usr/bin/env bash
# Reproduces BENCHMARKS.md: the side-by-side benchmarks of mqgate and rocketmq-client-go
# v2.1.2 in the bench module, -count 6, summarised with benchstat (columns by /impl).
# Usage: scripts/bench.sh [benchmark regexp] [count]     e.g. scripts/bench.sh RoundTrip 6
set -euo pipefail
cd "$(dirname "$0")/.."
pattern=${1:-.}
count=${2:-6}
export PATH=$PATH:$(go env GOPATH)/bin
command -v benchstat >/dev/null || go install golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
bench/peer.sh
out=${BENCH_OUT:-bench/results.txt}
(cd bench && go test -run '^$' -bench "$pattern" -benchmem -count "$count" -timeout 60m .) | tee "$out"
benchstat -col /impl "$out"
