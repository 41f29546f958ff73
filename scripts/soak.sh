#!/usr/bin/env bash
# Soaks the gateway binary: builds cmd/gateway and the enricher, tagfilter and averagely
# plugins into $SOAK_DIR (default a temporary directory), then runs scripts/soak, which
# runs the gateway with --dev on ports of its own (HTTP 18080, admin 19090, NameServer
# 19876, broker 20911; a second gateway on 18081) under steady load and churn for
# DURATION (default 10m), then watches it idle for IDLE (default 1m). Load and churn:
# single sends (150/s) and batches of 10 (5/s) to SoakA, SoakB and SoakC; a receive
# consumer of SoakA that acks, nacks and lets leases expire; a webhook consumer of SoakB
# whose endpoint answers 500 or too slowly now and then; consumers of SoakC added and
# removed by SIGHUP and through the admin API; plugin uploads, activation, rollback and
# deletion; a second gateway joining both groups for half of every 40 s cycle
# (rebalances), stopped with SIGTERM.
#
# Usage: scripts/soak.sh [flags of scripts/soak]      e.g. scripts/soak.sh -duration 30m
#
# Reading the output: a line every 10 s of the first gateway's RSS, CPU (% of one core
# over the last 10 s), threads, open files, the sizes of GET /v1/status and GET /metrics,
# the log lines written meanwhile, and messages sent and delivered (SoakA received and
# acked / SoakB POSTed and answered 2xx). Compare the lines of a churn cycle with those
# of twice as many cycles later: RSS, threads, files and status should not climb. Then
# the totals: failed sends and 5xx (want none), messages never delivered (want none:
# delivery is at least once, so some delivered twice is expected after rebalances and
# failures), every unexpected answer, "idle: cpu" (want a few % of a core at most), and
# the goroutines left at the end by stack, from a SIGQUIT dump (a stack counted in
# hundreds is a leak). The gateways' logs and configuration stay in the directory named
# on the first line.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${SOAK_DIR:-$(mktemp -d)}
go build -o "$dir/gateway" ./cmd/gateway
for p in enricher tagfilter averagely; do
	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o "$dir/$p.wasm" ./plugins/$p
done
go build -o "$dir/soak" ./scripts/soak
exec "$dir/soak" -gateway "$dir/gateway" -plugins "$dir" -dir "$dir/run" \
	-duration "${DURATION:-10m}" -idle "${IDLE:-1m}" "$@"
