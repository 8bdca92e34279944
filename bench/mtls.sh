#!/usr/bin/env bash
# What mutual TLS costs on the proxy-to-proxy hop, on the real netns runtime (`skein up`, needs root): a load pod
# calls an nginx backend pod through both sidecars, once with the backend's PeerAuthentication DISABLE (the client
# sidecar sends plaintext) and once STRICT (mTLS 1.3 with workload certificates from skein-control's CA), and,
# as the baseline, a pod without a sidecar calls an nginx pod without a sidecar (direct). Same pods, same backend
# config, same load: `wrk -t2 -c50` for throughput and bench/LoadGen at 1000 requests/s (open loop) for latency,
# both run inside the calling pod. Writes the "## mTLS hop" section of bench/RESULTS.md, keeping the others.
# Bounded (timeout); the mesh is always brought down, even on failure.
# Usage: bench/mtls.sh [--quick]     (--quick: 5 s throughput and 10 s at 1000 rps; default 15 s and 30 s)
set -euo pipefail
self=$(readlink -f "$0")
quick=0
for a in "$@"; do
  case $a in
    --quick) quick=1 ;;
    *) echo "usage: bench/mtls.sh [--quick]" >&2; exit 2 ;;
  esac
done

# shellcheck source=bench/lib.sh
source "$(dirname "$self")/lib.sh"
bench_bounded 1500 "$self" "$@"

cd "$(dirname "$self")/.."
root=$(pwd)
[ "$(id -u)" = 0 ] || { echo "bench/mtls.sh: needs root (pods are network namespaces)" >&2; exit 2; }
work=/tmp/skein-mtls-bench
run_dir=$work/run
duration=$([ $quick = 1 ] && echo 5 || echo 15)
rate_seconds=$([ $quick = 1 ] && echo 10 || echo 30)
rate=1000
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date +%s)

bench_install nginx:nginx wrk:wrk bc:bc
systemctl stop nginx 2>/dev/null || true # Debian starts one on :80 after install; the bench runs its own

rm -rf "$work"; mkdir -p "$work"
cleanup() {
  "$root/skein" down --run-dir "$run_dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'echo "bench/mtls.sh: interrupted" >&2; exit 130' INT TERM

echo "== building skein and the load generator"
"$root/skein" version >/dev/null
dotnet build bench/LoadGen -c Release -nologo -v quiet -clp:ErrorsOnly -o "$root/artifacts/bench/loadgen" >/dev/null
loadgen="$root/artifacts/bench/loadgen/skein-loadgen"

# nginx per pod (its own pid file), answering a 29-byte static body on 8080 on every address of the pod.
cat > "$work/nginx.conf" <<'EOF'
worker_processes 1;
daemon off;
pid /tmp/skein-mtls-bench/__POD__.pid;
error_log /tmp/skein-mtls-bench/__POD__-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  server {
    listen 8080;
    location / { default_type text/plain; return 200 "hello from the bench backend\n"; }
  }
}
EOF
nginx_cmd="[sh, -c, 'sed s/__POD__/\$POD_NAME/g $work/nginx.conf > $work/\$POD_NAME.conf && exec nginx -c $work/\$POD_NAME.conf']"
mkdir -p "$work/mesh"
cat > "$work/mesh/mesh.yaml" <<EOF
apiVersion: skein.dev/v1alpha1
kind: Workload
metadata: {name: backend}
spec:
  command: $nginx_cmd
  ports: [{name: http, port: 8080, protocol: HTTP}]
  serviceAccount: backend
---
apiVersion: v1
kind: Service
metadata: {name: backend}
spec:
  selector: {app: backend}
  ports: [{name: http, port: 8080}]
---
apiVersion: skein.dev/v1alpha1
kind: Workload
metadata: {name: load}
spec:
  command: [sleep, infinity]
  serviceAccount: load
---
apiVersion: skein.dev/v1alpha1
kind: Workload
metadata:
  name: backend-direct
  annotations: {sidecar.istio.io/inject: "false"}
spec:
  command: $nginx_cmd
  ports: [{name: http, port: 8080, protocol: HTTP}]
---
apiVersion: skein.dev/v1alpha1
kind: Workload
metadata:
  name: load-direct
  annotations: {sidecar.istio.io/inject: "false"}
spec:
  command: [sleep, infinity]
EOF
policy() {
  cat > "$work/policy-$1.yaml" <<EOF
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: backend}
spec:
  selector: {matchLabels: {app: backend}}
  mtls: {mode: $1}
EOF
  "$root/skein" apply -f "$work/policy-$1.yaml" --run-dir "$run_dir" >/dev/null
  sleep 3 # the push reaches both sidecars in well under a second
}

echo "== skein up"
"$root/skein" down >/dev/null 2>&1 || true
"$root/skein" up -f "$work/mesh" --run-dir "$run_dir" > "$work/up.log" 2>&1 || { cat "$work/up.log" >&2; exit 1; }
addr() { python3 -c "import json,sys; print(next(p['address'] for p in json.load(open('$run_dir/state.json'))['pods'] if p['name'] == sys.argv[1]))" "$1"; }
in_pod() { local pod=$1; shift; "$root/skein" exec "$pod" --run-dir "$run_dir" -- "$@"; }
json_field() { echo "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }
direct_url="http://$(addr backend-direct-0):8080/"
mesh_url="http://backend:8080/"

declare -A rps p50 p99 fails achieved
measure() { # row, pod, url
  local row=$1 pod=$2 url=$3
  echo "== $row"
  in_pod "$pod" "$loadgen" "$url" $rate 3 64 > /dev/null
  local json; json=$(in_pod "$pod" timeout $((rate_seconds + 30)) "$loadgen" "$url" $rate $rate_seconds 64)
  p50[$row]=$(json_field "$json" p50_ms); p99[$row]=$(json_field "$json" p99_ms)
  fails[$row]=$(json_field "$json" failures); achieved[$row]=$(json_field "$json" achieved_rps)
  in_pod "$pod" wrk -t2 -c50 -d3s "$url" > /dev/null
  in_pod "$pod" timeout $((duration + 30)) wrk -t2 -c50 -d${duration}s "$url" > "$work/$row-wrk.txt"
  rps[$row]=$(awk '/^Requests\/sec/ {printf "%d", $2}' "$work/$row-wrk.txt")
  local wrk_fails; wrk_fails=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$work/$row-wrk.txt")
  fails[$row]=$(( ${fails[$row]} + wrk_fails ))
  [ "${fails[$row]}" = 0 ] || { echo "bench/mtls.sh: $row had ${fails[$row]} failed requests" >&2; exit 1; }
}
# Requests the backend's sidecar counted with a connection security policy (proves which row used mTLS).
counted() { in_pod backend-0 curl -s http://127.0.0.1:15090/stats/prometheus \
  | awk -v p="connection_security_policy=\"$1\"" '/^istio_requests_total\{/ && /reporter="destination"/ && index($0, p) {n += $NF} END {printf "%d", n}'; }

measure direct load-direct-0 "$direct_url"
policy DISABLE
# The sidecars run as JIT builds: warm both up first, so the first proxied row is not the one paying for it.
echo "== warming up the sidecars (10 s)"
in_pod load-0 wrk -t2 -c50 -d10s "$mesh_url" > /dev/null
plain_before=$(counted none)
measure plaintext load-0 "$mesh_url"
plain_counted=$(( $(counted none) - plain_before ))
policy STRICT
mtls_before=$(counted mutual_tls)
measure mtls load-0 "$mesh_url"
mtls_counted=$(( $(counted mutual_tls) - mtls_before ))
[ "$plain_counted" -gt 0 ] && [ "$mtls_counted" -gt 0 ] || { echo "bench/mtls.sh: the backend's sidecar did not see plaintext ($plain_counted) and mTLS ($mtls_counted) requests" >&2; exit 1; }
caller_identity=$(in_pod load-0 curl -s http://127.0.0.1:15000/certs | python3 -c "import json,sys; c=json.load(sys.stdin)['certificates'][0]; print(c['identity'])")
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }
added() { echo "scale=3; $1 - $2" | bc | sed -E 's/^(-?)\./\10./'; }
cmd="bench/mtls.sh"; [ $quick = 0 ] || cmd+=" --quick"
{
  echo "## mTLS hop: sidecar to sidecar with and without mutual TLS"
  echo
  echo "Produced by \`$cmd\` on $(date -u +%Y-%m-%d) in $(( $(date +%s) - started )) s ($(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)); $(nginx -v 2>&1 | cut -d' ' -f3), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2); .NET $(dotnet --list-runtimes | awk '/NETCore.App/ {v = $2} END {print v}')). Load average (1/5/15 min) $load_start at the start and $load_end at the end."
  echo
  echo "Setup: \`skein up\` on the netns runtime (JIT build of skein-proxy, as \`./skein\` runs it). The load runs inside the calling pod; its traffic is captured by iptables into its sidecar, which calls the backend pod's sidecar, which calls nginx (one worker, 29-byte static body) on 127.0.0.1 of that pod. **direct**: a pod without a sidecar calls an nginx pod without a sidecar by address. **plaintext**: the backend's PeerAuthentication is DISABLE, so the client sidecar sends plaintext HTTP/1.1. **mTLS**: STRICT; the sidecars speak TLS 1.3 with their SPIFFE certificates ($caller_identity for the caller). The backend's sidecar counted ${plain_counted} plaintext and ${mtls_counted} mTLS requests in those rows (\`connection_security_policy\`). Latency: bench/LoadGen, open loop at $rate requests/s for $rate_seconds s over 64 keep-alive connections after a 3 s warm-up, measured from each request's scheduled time. Throughput: \`wrk -t2 -c50 -d${duration}s\` after a 3 s warm-up. Before the plaintext row, both sidecars are warmed up with 10 s of the same load (JIT). Everything shares the same $(nproc) cores. Every request succeeded (checked by the script)."
  echo
  echo "| path | rps (wrk) | vs direct | vs plaintext hop | p50 ms at $rate rps | p99 ms at $rate rps | p99 added over direct ms | achieved rps |"
  echo "|---|---|---|---|---|---|---|---|"
  for row in direct plaintext mtls; do
    echo "| $row | ${rps[$row]} | $(ratio "${rps[$row]}" "${rps[direct]}") | $(ratio "${rps[$row]}" "${rps[plaintext]}") | ${p50[$row]} | ${p99[$row]} | $( [ $row = direct ] && echo - || added "${p99[$row]}" "${p99[direct]}") | ${achieved[$row]} |"
  done
  echo
} > "$work/section.md"

results=bench/RESULTS.md
[ -f $results ] || printf '# Benchmark results\n\nEvery figure here comes from a script in bench/, with the command that produced it.\n' > $results
if grep -q '^## mTLS hop' $results; then
  awk -v section="$work/section.md" '
    /^## mTLS hop/ { while ((getline line < section) > 0) print line; skip = 1; next }
    /^## / { skip = 0 }
    !skip { print }' $results > "$work/results.md"
else
  { cat $results; echo; cat "$work/section.md"; } > "$work/results.md"
fi
cp "$work/results.md" $results
cat "$work/section.md"
