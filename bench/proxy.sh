#!/usr/bin/env bash
# Measures skein-proxy side by side with a direct connection, haproxy and nginx, in front of the
# same fixed backend (nginx serving a static answer), in one run on this machine:
#   1. HTTP/1.1 keep-alive throughput with wrk
#   2. HTTP/2 (h2c) throughput with h2load
#   3. a fixed 1000 requests/second run (open loop) for p50/p90/p99 latency added over direct
# and each proxy's RSS (idle and peak) and CPU seconds. Writes bench/RESULTS.md (proxy section).
# Usage: bench/proxy.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=/tmp/skein-bench
quick=0; [ "${1:-}" = "--quick" ] && quick=1
duration=$([ $quick = 1 ] && echo 5 || echo 15)
rate_seconds=$([ $quick = 1 ] && echo 10 || echo 30)

need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
missing=(); need wrk wrk; need h2load nghttp2-client; need haproxy haproxy; need nginx nginx
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

rm -rf "$work"; mkdir -p "$work"
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== building skein-proxy and the load generator (Release)"
dotnet build src/Skein.Proxy -c Release -nologo -v quiet -clp:ErrorsOnly -o "$root/artifacts/bench/proxy" >/dev/null
dotnet build bench/LoadGen -c Release -nologo -v quiet -clp:ErrorsOnly -o "$root/artifacts/bench/loadgen" >/dev/null

wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open" >&2; return 1; }
# Memory and CPU of a process and its children (nginx workers), from /proc.
rss_kb() { local t=0; for p in $1 $(pgrep -P "$1" || true); do t=$((t + $(awk '/^VmRSS/ {print $2}' /proc/$p/status))); done; echo $t; }
hwm_kb() { local t=0; for p in $1 $(pgrep -P "$1" || true); do t=$((t + $(awk '/^VmHWM/ {print $2}' /proc/$p/status))); done; echo $t; }
cpu_s() { local t=0; for p in $1 $(pgrep -P "$1" || true); do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo "scale=2; $t / $(getconf CLK_TCK)" | bc; }

nginx -c "$root/bench/configs/backend-nginx.conf" -p "$work" & pids+=($!)
wait_port 18080

start_target() { # name -> sets pid, h1 port, h2 port
  case $1 in
    direct) pid=""; h1=18080; h2=18081 ;;
    skein)
      "$root/artifacts/bench/proxy/skein-proxy" --bootstrap "$root/bench/configs/skein-bootstrap.json" \
        --mode explicit --outbound-port 18095 --inbound-port 18096 --admin-port 18097 --stats-port 18098 --health-port 18099 \
        > "$work/skein.log" 2>&1 & pid=$!; h1=18095; h2=18095 ;;
    haproxy) haproxy -db -f "$root/bench/configs/haproxy.cfg" > "$work/haproxy.log" 2>&1 & pid=$!; h1=18090; h2=18090 ;;
    nginx) nginx -c "$root/bench/configs/nginx-proxy.conf" -p "$work" & pid=$!; h1=18091; h2=18092 ;;
  esac
  [ -n "$pid" ] && pids+=("$pid")
  wait_port "$h1"; sleep 1
}

declare -A rps1 rps2 p50 p90 p99 rssidle rsspeak cpu fails
for target in direct skein haproxy nginx; do
  echo "== $target"
  start_target $target
  [ -n "$pid" ] && rssidle[$target]=$(( $(rss_kb "$pid") / 1024 )) || rssidle[$target]="-"
  # Warm up (JIT, pools), then measure.
  wrk -t2 -c50 -d3s "http://127.0.0.1:$h1/" >/dev/null
  rps1[$target]=$(wrk -t2 -c50 -d${duration}s "http://127.0.0.1:$h1/" | awk '/Requests\/sec/ {printf "%d", $2}')
  rps2[$target]=$(h2load -c50 -m10 -t2 -D $duration "http://127.0.0.1:$h2/" 2>/dev/null | awk '/finished in/ {gsub(",", "", $4); printf "%d", $4}')
  [ -n "$pid" ] && cpu_before=$(cpu_s "$pid")
  json=$("$root/artifacts/bench/loadgen/skein-loadgen" "http://127.0.0.1:$h1/" 1000 $rate_seconds 64)
  [ -n "$pid" ] && cpu[$target]=$(echo "scale=3; ($(cpu_s "$pid") - $cpu_before) / $rate_seconds" | bc) || cpu[$target]="-"
  p50[$target]=$(echo "$json" | sed -E 's/.*"p50_ms":([0-9.]+).*/\1/')
  p90[$target]=$(echo "$json" | sed -E 's/.*"p90_ms":([0-9.]+).*/\1/')
  p99[$target]=$(echo "$json" | sed -E 's/.*"p99_ms":([0-9.]+).*/\1/')
  fails[$target]=$(echo "$json" | sed -E 's/.*"failures":([0-9]+).*/\1/')
  [ -n "$pid" ] && rsspeak[$target]=$(( $(hwm_kb "$pid") / 1024 )) || rsspeak[$target]="-"
  if [ -n "$pid" ]; then kill "$pid"; wait "$pid" 2>/dev/null || true; fi
  echo "   h1 ${rps1[$target]} rps, h2 ${rps2[$target]} rps, 1000rps p50/p90/p99 ${p50[$target]}/${p90[$target]}/${p99[$target]} ms, failures ${fails[$target]}"
done

ratio() { echo "scale=2; $1 / $2" | bc; }
added() { echo "scale=3; $1 - $2" | bc; }
{
  echo "## Proxy: skein-proxy vs direct, haproxy, nginx"
  echo
  echo "Produced by \`bench/proxy.sh$([ $quick = 1 ] && echo ' --quick')\` on $(date -u +%Y-%m-%d) ($(nproc) cores, $(awk '/MemTotal/ {printf "%d GiB", $2/1048576}' /proc/meminfo); $(haproxy -v | head -1 | cut -d' ' -f1-3), nginx $(nginx -v 2>&1 | cut -d/ -f2), wrk, h2load). Backend: nginx static answer on loopback; every proxy keeps connections alive to it, two workers/threads each, logging off."
  echo "Throughput: wrk -t2 -c50 -d${duration}s (HTTP/1.1) and h2load -c50 -m10 -t2 -D${duration} (h2c), after a 3 s warm-up. Latency: skein-loadgen, open loop at 1000 requests/s for ${rate_seconds}s over 64 connections, measured from each request's scheduled time."
  echo
  echo "| target | HTTP/1.1 rps | vs haproxy | h2c rps | vs haproxy | p50 ms | p90 ms | p99 ms | p99 added over direct ms | failures | RSS idle MB | RSS peak MB | CPU cores at 1000 rps |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for t in direct skein haproxy nginx; do
    echo "| $t | ${rps1[$t]} | $(ratio "${rps1[$t]}" "${rps1[haproxy]}") | ${rps2[$t]} | $(ratio "${rps2[$t]}" "${rps2[haproxy]}") | ${p50[$t]} | ${p90[$t]} | ${p99[$t]} | $(added "${p99[$t]}" "${p99[direct]}") | ${fails[$t]} | ${rssidle[$t]} | ${rsspeak[$t]} | ${cpu[$t]} |"
  done
  echo
  echo "Goals (issue 3, reported, not asserted): throughput ≥ haproxy's; p99 added at 1000 rps ≤ haproxy's; RSS < 20 MB idle and < 30 MB under load; CPU < 0.1 core per 1000 rps."
} > "$work/proxy-section.md"

# Replace the proxy section of RESULTS.md, keeping the other sections.
results=bench/RESULTS.md
[ -f $results ] || printf '# Benchmark results\n\nEvery figure here comes from a script in bench/, with the command that produced it.\n\n' > $results
awk -v section="$work/proxy-section.md" '
  /^## Proxy: / { while ((getline line < section) > 0) print line; skip = 1; next }
  /^## / { skip = 0 }
  !skip { print }
  END { if (!found) {} }' $results > "$work/results.md"
grep -q '^## Proxy: ' $results || { echo; cat "$work/proxy-section.md"; } >> "$work/results.md"
cp "$work/results.md" $results
cat "$work/proxy-section.md"
