#!/usr/bin/env bash
# Shows mqgate's traces and metrics arriving in a real OpenTelemetry Collector.
#
# It builds the Collector with its builder (go.opentelemetry.io/collector/cmd/builder,
# from the Go module proxy) with the OTLP receiver and the file exporter, runs it, starts
# the gateway (--dev: an embedded dev cluster) exporting to it over OTLP/gRPC, produces a
# message over HTTP with a caller's traceparent, stops the gateway (which flushes its
# spans) and checks that the file holds the trace: the HTTP server span, the producer
# span and the broker call, in the caller's trace. Exit status 0 when they arrived.
#
# Usage: scripts/otel-collector.sh
#   OTELCOL_VERSION  collector release (default 0.161.0: the builder, the receiver and the
#                    contrib file exporter at one release)
#   OTELCOL_DIR      where the builder and the collector are built and kept (default
#                    ~/.cache/mqgate/otelcol-$OTELCOL_VERSION); a second run reuses them
#   OTLP_PORT        the collector's OTLP/gRPC port (default 14317)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/checklib.sh

version=${OTELCOL_VERSION:-0.161.0}
dir=${OTELCOL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mqgate/otelcol-$version}
port=${OTLP_PORT:-14317}
collector=$dir/dist/otelcol-mqgate

if [ ! -x "$collector" ]; then
  echo "== building the OpenTelemetry Collector $version in $dir"
  mkdir -p "$dir"
  GOBIN="$dir/bin" go install "go.opentelemetry.io/collector/cmd/builder@v$version"
  cat > "$dir/manifest.yaml" <<EOF
dist:
  name: otelcol-mqgate
  description: OpenTelemetry Collector for mqgate's telemetry checks
  output_path: $dir/dist
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver v$version
exporters:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter v$version
EOF
  "$dir/bin/builder" --config "$dir/manifest.yaml"
fi

check_run_dir

cat > "$run/collector.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$port
exporters:
  file/traces:
    path: $run/traces.json
  file/metrics:
    path: $run/metrics.json
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file/traces]
    metrics:
      receivers: [otlp]
      exporters: [file/metrics]
EOF
echo "== starting the collector (OTLP/gRPC on 127.0.0.1:$port)"
"$collector" --config "$run/collector.yaml" > "$run/collector.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then break; fi
  sleep 0.1
done
(exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null || { cat "$run/collector.log"; echo "the collector did not listen"; exit 1; }

echo "== building and starting the gateway (--dev)"
cat > "$run/gateway.toml" <<EOF
[http]
listen = "127.0.0.1:0"
[admin]
listen = ""
[dev]
namesrv_listen = "127.0.0.1:0"
broker_listen = "127.0.0.1:0"
[telemetry]
enabled = true
endpoint = "127.0.0.1:$port"
protocol = "grpc"
insecure = true
sample_ratio = 1.0
service_name = "mqgate-collector-check"
metric_interval = "1s"
[log]
format = "json"
EOF
start_gateway

trace_id=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
topic=CollectorCheck
echo "== producing a message to $topic with traceparent 00-$trace_id-00f067aa0ba902b7-01"
curl -sS --fail-with-body -H 'content-type: application/json' \
  -H "traceparent: 00-$trace_id-00f067aa0ba902b7-01" \
  -d '{"body":"hello collector","tags":"TagA","keys":["order-1"]}' "$url/v1/topics/$topic/messages"
echo
sleep 1.5 # one metric export interval
kill -TERM "$gw" # a graceful shutdown flushes the spans
wait "$gw" || true

echo "== waiting for the spans in $run/traces.json"
ok=
for _ in $(seq 100); do
  if grep -q "\"$trace_id\"" "$run/traces.json" 2>/dev/null &&
     grep -q "\"$topic publish\"" "$run/traces.json" &&
     grep -q '"POST /v1/topics/{topic}/messages"' "$run/traces.json" &&
     grep -q '"SEND_MESSAGE' "$run/traces.json"; then
    ok=1
    break
  fi
  sleep 0.1
done

python3 - "$run/traces.json" "$trace_id" <<'EOF' || true
import json, sys
path, want = sys.argv[1], sys.argv[2]
kinds = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
for line in open(path):
    for rs in json.loads(line).get("resourceSpans", []):
        svc = next((a["value"].get("stringValue") for a in rs["resource"]["attributes"] if a["key"] == "service.name"), "?")
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                if s["traceId"] != want:
                    continue
                attrs = {a["key"]: list(a["value"].values())[0] for a in s.get("attributes", [])}
                keep = {k: v for k, v in attrs.items() if k.startswith(("messaging.", "mqgate.remoting", "http.", "server."))}
                print(f"   [{svc}] {kinds.get(s.get('kind'), s.get('kind'))} span {s['name']!r} span={s['spanId']} "
                      f"parent={s.get('parentSpanId') or '-'} scope={ss['scope']['name']}")
                for k in sorted(keep):
                    print(f"       {k} = {keep[k]}")
EOF
if grep -q messaging.client.sent.messages "$run/metrics.json" 2>/dev/null; then
  echo "   metrics arrived too: $(grep -o '"name":"[a-z._]*"' "$run/metrics.json" | sort -u | tr '\n' ' ')"
fi
if [ -z "$ok" ]; then
  echo "FAIL: the gateway's spans did not arrive in the collector's file"
  tail -20 "$run/collector.log" "$run/gateway.log"
  exit 1
fi
echo "OK: the trace $trace_id arrived in the OpenTelemetry Collector $version (OTLP receiver, file exporter)"
