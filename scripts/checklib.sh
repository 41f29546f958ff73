# What the check scripts (otel-collector.sh, prometheus.sh) share; sourced, not run.
#
# A script sources it from the repository's root, then:
#   check_run_dir        $run: a temporary directory, removed at exit with the
#                        processes whose ids the script adds to $pids
#   start_gateway [VAR=value...]
#                        builds cmd/gateway, runs it with --dev on $run/gateway.toml (the
#                        script writes it first), the assignments in its environment,
#                        and waits until it serves: $gw is its pid, $url its HTTP API

check_run_dir() {
  run=$(mktemp -d)
  pids=()
  trap check_cleanup EXIT
}

check_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$run"
}

start_gateway() {
  go build -o "$run/gateway" ./cmd/gateway
  env "$@" "$run/gateway" --config "$run/gateway.toml" --dev > "$run/gateway.out" 2> "$run/gateway.log" &
  gw=$!
  pids+=("$gw")
  for _ in $(seq 300); do
    grep -q "gateway ready" "$run/gateway.out" 2>/dev/null && break
    kill -0 "$gw" 2>/dev/null || { cat "$run/gateway.log"; echo "the gateway exited"; exit 1; }
    sleep 0.1
  done
  url=$(sed -n 's/^gateway ready: \(http:\/\/[^ ,]*\).*/\1/p' "$run/gateway.out")
  [ -n "$url" ] || { cat "$run/gateway.out" "$run/gateway.log"; echo "the gateway did not start"; exit 1; }
  echo "   $(cat "$run/gateway.out")"
}
