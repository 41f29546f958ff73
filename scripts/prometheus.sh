#!/usr/bin/env bash
# Shows a real Prometheus scraping mqgate's GET /metrics.
#
# It installs Debian's prometheus package when the command is missing, starts the gateway
# (--dev: an embedded dev cluster) with telemetry on and an admin token holding the
# metrics:read scope, produces a few messages over HTTP, runs Prometheus with a scrape
# job for the admin listener (the token as its authorization credentials), and asks
# Prometheus's HTTP API for the messages sent. Exit status 0 when Prometheus answers them.
#
# Usage: scripts/prometheus.sh
#   PROM_PORT  Prometheus's web port (default 19090)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/checklib.sh

prom_port=${PROM_PORT:-19090}
if ! command -v prometheus > /dev/null; then
  echo "== installing Debian's prometheus package"
  sudo=; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq prometheus > /dev/null
fi
prometheus --version 2>&1 | head -1

check_run_dir

token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
echo "== building and starting the gateway (--dev)"
cat > "$run/gateway.toml" <<EOF
[http]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[[admin.token]]
name = "prometheus"
token = "\${MQGATE_METRICS_TOKEN}"
scopes = ["metrics:read"]
[dev]
namesrv_listen = "127.0.0.1:0"
broker_listen = "127.0.0.1:0"
[plugins]
dir = "$run/plugins"
[telemetry]
enabled = true
service_name = "mqgate-prometheus-check"
EOF
start_gateway MQGATE_METRICS_TOKEN="$token"
admin=$(sed -n 's/.*admin http:\/\/\([^ ,]*\).*/\1/p' "$run/gateway.out")
[ -n "$admin" ] || { cat "$run/gateway.out" "$run/gateway.log"; echo "the gateway's admin API did not start"; exit 1; }

echo "== producing 5 messages to PromCheck"
for i in 1 2 3 4 5; do
  curl -sS --fail-with-body -o /dev/null -H 'content-type: application/json' -d "{\"body\":\"m$i\"}" "$url/v1/topics/PromCheck/messages"
done
echo "== GET /metrics without a token: $(curl -s -o /dev/null -w '%{http_code}' "http://$admin/metrics")"

cat > "$run/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: mqgate
    metrics_path: /metrics
    authorization:
      credentials: $token
    static_configs:
      - targets: ["$admin"]
EOF
echo "== starting Prometheus on 127.0.0.1:$prom_port, scraping http://$admin/metrics"
prometheus --config.file="$run/prometheus.yml" --storage.tsdb.path="$run/data" \
  --web.listen-address="127.0.0.1:$prom_port" > "$run/prometheus.log" 2>&1 &
pids+=($!)

query() { curl -sS -G "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1"; }
answer=
for _ in $(seq 300); do
  answer=$(query 'messaging_client_sent_messages_total{messaging_destination_name="PromCheck"}' 2>/dev/null || true)
  if printf '%s' "$answer" | grep -q '"value":\[[0-9.]*,"5"\]'; then break; fi
  answer=
  sleep 0.2
done
echo "== Prometheus HTTP API: up{job=\"mqgate\"}"
query 'up{job="mqgate"}'; echo
echo "== Prometheus HTTP API: messaging_client_sent_messages_total{messaging_destination_name=\"PromCheck\"}"
if [ -z "$answer" ]; then
  query 'messaging_client_sent_messages_total'; echo
  tail -20 "$run/prometheus.log"
  echo "FAIL: Prometheus did not get the gateway's metrics"
  exit 1
fi
echo "$answer"
echo "== Prometheus HTTP API: p99 send duration, histogram_quantile(0.99, sum by (le) (messaging_client_operation_duration_seconds_bucket))"
query 'histogram_quantile(0.99, sum by (le) (messaging_client_operation_duration_seconds_bucket))'; echo
echo "== metric names Prometheus stored from the gateway"
curl -sS "http://127.0.0.1:$prom_port/api/v1/label/__name__/values" | tr ',' '\n' | grep -E 'messaging|mqgate|target_info' | tr -d '"[]}{' | sed 's/^data://; s/^/   /'
echo "OK: Prometheus scraped the gateway's /metrics"
