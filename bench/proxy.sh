#!/usr/bin/env bash
# Measures skein-proxy side by side with a direct connection, haproxy and nginx (Debian packages), in front of
# the same fixed backend (nginx serving a static answer on loopback), in one run on this machine. Per row:
#   1. a fixed 1000 requests/second run (open loop, bench/LoadGen) for p50/p90/p99 latency and the latency added
#      over direct, with the proxy's CPU cores and peak RSS during that run
#   2. HTTP/1.1 keep-alive throughput with wrk
#   3. HTTP/2 (h2c, prior knowledge) throughput with h2load
# plus the proxy's idle RSS, its peak RSS over the whole row, and how many connections it opened to the backend.
# skein-proxy is the NativeAOT publish (the shipped artifact); the JIT build is used only if the publish fails
# (or with --jit), and the results say which. Writes the "## Proxy:" section of bench/RESULTS.md, keeping the
# other sections. The whole run is bounded (timeout) and every process it starts is stopped, even on failure.
# Usage: bench/proxy.sh [--quick] [--jit] [--commit REV]
#   --quick        5 s throughput runs, 10 s at 1000 rps (instead of 15 s and 30 s)
#   --jit          measure the JIT build of skein-proxy instead of the NativeAOT publish
#   --commit REV   build skein-proxy from that commit (git archive) instead of the work tree, so the figures belong
#                  to a known revision even while the work tree has unfinished changes
#        SKEIN_PROXY_BIN=path bench/proxy.sh ...  measures that skein-proxy binary instead of building one
set -euo pipefail
self=$(readlink -f "$0")
args=("$@"); quick=0; force_jit=0; commit=""
usage="usage: bench/proxy.sh [--quick] [--jit] [--commit REV]"
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --jit) force_jit=1 ;;
    --commit) [ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }; commit=$2; shift ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
  shift
done

# shellcheck source=bench/lib.sh
source "$(dirname "$self")/lib.sh"
bench_bounded "$([ $quick = 1 ] && echo 1500 || echo 2400)" "$self" "${args[@]}" # the NativeAOT publish alone can take 10 min on a loaded machine

cd "$(dirname "$self")/.."
root=$(pwd)
work=/tmp/skein-bench
duration=$([ $quick = 1 ] && echo 5 || echo 15)
rate_seconds=$([ $quick = 1 ] && echo 10 || echo 30)
rate=1000
load_start=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)
started=$(date +%s)

tools=(wrk:wrk h2load:nghttp2-client haproxy:haproxy nginx:nginx bc:bc curl:curl)
[ $force_jit = 1 ] || tools+=(clang:clang dpkg:zlib1g-dev)
bench_install "${tools[@]}"

rm -rf "$work"; mkdir -p "$work"

bench_stop_all_on_exit bench/proxy.sh

echo "== building skein-proxy (NativeAOT publish) and the load generator (Release)"
src=$root; revision="work tree at $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src && echo '' || echo ' with uncommitted changes in src/')"
if [ -n "$commit" ]; then
  src=/tmp/skein-bench-src; rm -rf "$src"; mkdir -p "$src"
  git archive "$commit" | tar -x -C "$src"
  revision="commit $(git rev-parse --short "$commit^{commit}")"
fi
if [ -n "${SKEIN_PROXY_BIN:-}" ]; then # a prebuilt binary (e.g. to compare builds); the results name it
  proxy_cmd=("$(readlink -f "$SKEIN_PROXY_BIN")")
  proxy_build="prebuilt ${SKEIN_PROXY_BIN} ($([ -f "$(dirname "${proxy_cmd[0]}")/skein-proxy.dll" ] && echo JIT || echo NativeAOT), $(( $(stat -c %s "${proxy_cmd[0]}") / 1048576 )) MB)"
elif [ $force_jit = 0 ] && dotnet publish "$src/src/Skein.Proxy" -c Release -r linux-x64 -p:PublishAot=true -nologo \
     -o "$root/artifacts/bench/proxy-aot" > "$work/publish.log" 2>&1; then
  proxy_cmd=("$root/artifacts/bench/proxy-aot/skein-proxy")
  proxy_build="NativeAOT, $revision ($(( $(stat -c %s "${proxy_cmd[0]}") / 1048576 )) MB single file)"
else
  [ $force_jit = 0 ] && { echo "NativeAOT publish failed (log: $work/publish.log); using the JIT build" >&2; tail -5 "$work/publish.log" >&2; }
  dotnet build "$src/src/Skein.Proxy" -c Release -nologo -v quiet -clp:ErrorsOnly -o "$root/artifacts/bench/proxy-jit" >/dev/null
  proxy_cmd=("$root/artifacts/bench/proxy-jit/skein-proxy")
  proxy_build="JIT, $revision ($([ $force_jit = 1 ] && echo 'chosen with --jit' || echo 'the NativeAOT publish failed'))"
fi
dotnet build bench/LoadGen -c Release -nologo -v quiet -clp:ErrorsOnly -o "$root/artifacts/bench/loadgen" >/dev/null
loadgen="$root/artifacts/bench/loadgen/skein-loadgen"

wait_port() {
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 did not open" >&2; return 1
}
procs() { echo "$1" $(pgrep -P "$1" || true); } # a process and its children (nginx workers)
# Memory in MB (VmRSS now, VmHWM peak) and CPU seconds of a process and its children, from /proc.
mem_mb() { local t=0 p; for p in $(procs "$1"); do t=$((t + $(awk -v f="$2:" '$1 == f {print $2}' /proc/$p/status))); done; awk -v k=$t 'BEGIN {printf "%.1f", k / 1024}'; }
reset_peak() { local p; for p in $(procs "$1"); do echo 5 > /proc/$p/clear_refs; done; }
cpu_s() { local t=0 p; for p in $(procs "$1"); do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo "scale=2; $t / $(getconf CLK_TCK)" | bc; }
backend_accepts() { curl -s http://127.0.0.1:18089/status | awk 'NR == 3 {print $1}'; }
json_field() { echo "$1" | sed -nE "s/.*\"$2\":([0-9.]+).*/\1/p"; }

for port in 18080 18081 18089 18090 18091 18092 18095 18096 18097 18098 18099; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then echo "port $port is already in use: is another run going on?" >&2; exit 1; fi
done
nginx -c "$root/bench/configs/backend-nginx.conf" -p "$work" & pids+=($!)
wait_port 18080; wait_port 18081; wait_port 18089

start_target() { # $1 -> pid (empty for direct), h1 and h2 ports
  pid=""
  case $1 in
    direct) h1=18080; h2=18081 ;;
    skein)
      # Explicit mode: the listener is chosen by the Host header's port (18095). Access log off (the default),
      # own logs at warning (the default; the request path logs nothing).
      "${proxy_cmd[@]}" --bootstrap "$root/bench/configs/skein-bootstrap.json" --mode explicit --drain-duration 1s \
        --outbound-port 18095 --inbound-port 18096 --admin-port 18097 --stats-port 18098 --health-port 18099 \
        > "$work/skein.log" 2>&1 & pid=$!; h1=18095; h2=18095 ;;
    haproxy) haproxy -db -f "$root/bench/configs/haproxy.cfg" > "$work/haproxy.log" 2>&1 & pid=$!; h1=18090; h2=18090 ;;
    nginx) nginx -c "$root/bench/configs/nginx-proxy.conf" -p "$work" > "$work/nginx-proxy.log" 2>&1 & pid=$!; h1=18091; h2=18092 ;;
  esac
  if [ -n "$pid" ]; then pids+=("$pid"); fi
  wait_port "$h1"; wait_port "$h2"
  if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then echo "$1 exited (logs in $work)" >&2; return 1; fi
  curl -sf -o /dev/null "http://127.0.0.1:$h1/" || { echo "$1: HTTP/1.1 request failed" >&2; return 1; }
  curl -sf -o /dev/null --http2-prior-knowledge "http://127.0.0.1:$h2/" || { echo "$1: h2c request failed" >&2; return 1; }
  sleep 1
}

declare -A rps1 rps2 fail1 fail2 p50 p90 p99 achieved fails rssidle rssrate rsspeak cpu conns
for target in direct skein haproxy nginx; do
  echo "== $target"
  accepts_before=$(backend_accepts)
  start_target $target
  if [ -n "$pid" ]; then rssidle[$target]=$(mem_mb "$pid" VmRSS); else rssidle[$target]="-"; fi
  [ $target = skein ] && ready=$(sed -nE 's/^skein-proxy ready in ([0-9]+) ms.*/\1/p' "$work/skein.log")

  # 1. Fixed rate, after a 3 s warm-up at the same rate (pools, backend connections).
  "$loadgen" "http://127.0.0.1:$h1/" $rate 3 64 > /dev/null
  if [ -n "$pid" ]; then reset_peak "$pid"; cpu_before=$(cpu_s "$pid"); fi
  json=$(timeout $((rate_seconds + 30)) "$loadgen" "http://127.0.0.1:$h1/" $rate $rate_seconds 64)
  echo "$json" > "$work/$target-rate.json"
  if [ -n "$pid" ]; then
    cpu[$target]=$(echo "scale=3; ($(cpu_s "$pid") - $cpu_before) / $rate_seconds" | bc | sed 's/^\./0./')
    rssrate[$target]=$(mem_mb "$pid" VmHWM)
  else cpu[$target]="-"; rssrate[$target]="-"; fi
  p50[$target]=$(json_field "$json" p50_ms); p90[$target]=$(json_field "$json" p90_ms); p99[$target]=$(json_field "$json" p99_ms)
  fails[$target]=$(json_field "$json" failures); achieved[$target]=$(json_field "$json" achieved_rps)

  # 2. HTTP/1.1 keep-alive throughput, after a 3 s warm-up.
  wrk -t2 -c50 -d3s "http://127.0.0.1:$h1/" > /dev/null
  timeout $((duration + 30)) wrk -t2 -c50 -d${duration}s "http://127.0.0.1:$h1/" > "$work/$target-wrk.txt"
  rps1[$target]=$(awk '/^Requests\/sec/ {printf "%d", $2}' "$work/$target-wrk.txt")
  fail1[$target]=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$work/$target-wrk.txt")

  # 3. HTTP/2 over cleartext (prior knowledge), 50 connections x 10 streams, after a 2 s warm-up.
  timeout $((duration + 30)) h2load -c50 -m10 -t2 --warm-up-time=2 -D $duration "http://127.0.0.1:$h2/" > "$work/$target-h2load.txt" 2>&1 || true
  rps2[$target]=$(awk '/^finished in/ {printf "%d", $4}' "$work/$target-h2load.txt")
  fail2[$target]=$(awk '/^requests:/ {gsub(",", ""); n += $10 + $12 + $14} /^status codes:/ {gsub(",", ""); n += $7 + $9} END {print n + 0}' "$work/$target-h2load.txt")

  if [ -n "$pid" ]; then rsspeak[$target]=$(mem_mb "$pid" VmHWM); stop_proc "$pid"; else rsspeak[$target]="-"; fi
  conns[$target]=$(( $(backend_accepts) - accepts_before - 1 )) # minus the status request's own connection
  echo "   $rate rps: p50/p90/p99 ${p50[$target]}/${p90[$target]}/${p99[$target]} ms, achieved ${achieved[$target]} rps, failures ${fails[$target]}, CPU ${cpu[$target]} cores"
  echo "   wrk ${rps1[$target]} rps (failures ${fail1[$target]}), h2load ${rps2[$target]} rps (failures ${fail2[$target]})"
  echo "   RSS idle ${rssidle[$target]} MB, peak at $rate rps ${rssrate[$target]} MB, peak ${rsspeak[$target]} MB; backend connections opened ${conns[$target]}"
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)

# Every figure must be present, and every request must have succeeded.
bad=()
for t in direct skein haproxy nginx; do
  for v in "${rps1[$t]}" "${rps2[$t]}" "${p50[$t]}" "${p90[$t]}" "${p99[$t]}" "${achieved[$t]}"; do
    [[ "$v" =~ ^[0-9]+(\.[0-9]+)?$ ]] || bad+=("$t: missing or malformed figure '$v'")
  done
  [ "${fails[$t]}:${fail1[$t]}:${fail2[$t]}" = "0:0:0" ] || bad+=("$t: failures at $rate rps ${fails[$t]}, wrk ${fail1[$t]}, h2load ${fail2[$t]}")
  [ "$t" = direct ] || [[ "${cpu[$t]}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || bad+=("$t: CPU figure '${cpu[$t]}'")
done
if [ ${#bad[@]} -gt 0 ]; then printf 'bench/proxy.sh: %s\n' "${bad[@]}" >&2; echo "RESULTS.md not written; raw output in $work" >&2; exit 1; fi

ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }
added() { echo "scale=3; $1 - $2" | bc | sed -E 's/^(-?)\./\10./'; }
ge() { [ "$(echo "$1 >= $2" | bc)" = 1 ]; }
lt() { [ "$(echo "$1 < $2" | bc)" = 1 ]; }
verdict() { if "$@"; then echo "**met**"; else echo "**not met**"; fi; }
declare -A p99add; for t in direct skein haproxy nginx; do p99add[$t]=$(added "${p99[$t]}" "${p99[direct]}"); done
cmd="bench/proxy.sh"; [ $quick = 0 ] || cmd+=" --quick"; [ $force_jit = 0 ] || cmd+=" --jit"; [ -z "$commit" ] || cmd+=" --commit $commit"
[ -z "${SKEIN_PROXY_BIN:-}" ] || cmd="SKEIN_PROXY_BIN=$SKEIN_PROXY_BIN $cmd"

{
  echo "## Proxy: skein-proxy vs direct, haproxy, nginx"
  echo
  echo "Produced by \`$cmd\` on $(date -u +%Y-%m-%d) in $(( $(date +%s) - started )) s ($(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%d GiB", $2/1048576}' /proc/meminfo) memory; $(haproxy -v | head -1 | cut -d' ' -f1-3), nginx $(nginx -v 2>&1 | cut -d/ -f2), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), $(h2load --version | cut -d' ' -f2); .NET $(dotnet --list-runtimes | awk '/NETCore.App/ {v = $2} END {print v}')). Load average (1/5/15 min) $load_start at the start and $load_end at the end: the machine is shared, other work may have run beside the benchmark."
  echo
  echo "skein-proxy build: **$proxy_build**, start to ready ${ready:-?} ms. Setup: the backend is nginx (one worker) answering a 29-byte static body on loopback. Each proxy listens for HTTP/1.1 and h2c, keeps connections alive to the backend (HTTP/1.1 upstream), logs nothing per request, and runs two threads/workers (haproxy \`nbthread 2\`, nginx \`worker_processes 2\`; skein-proxy uses the .NET thread pool on 2 cores): bench/configs/. Everything, load generators included, shares the same $(nproc) cores, so throughput is the whole system's under full CPU contention."
  echo "Latency: bench/LoadGen (.NET HttpClient), open loop at $rate requests/s for ${rate_seconds} s over 64 keep-alive connections after a 3 s warm-up, measured from each request's scheduled time (no coordinated omission). Throughput: \`wrk -t2 -c50 -d${duration}s\` (HTTP/1.1) after a 3 s warm-up, and \`h2load -c50 -m10 -t2 --warm-up-time=2 -D $duration\` (h2c prior knowledge). CPU: the proxy's utime+stime during the $rate rps run (all processes, nginx's workers included) divided by its length. RSS: VmRSS after start (idle), VmHWM during the $rate rps run and over the whole row, summed over the proxy's processes (nginx: master and 2 workers, shared pages counted in each). Every request of every run succeeded (checked by the script)."
  echo
  echo "| target | HTTP/1.1 rps | vs haproxy | h2c rps | vs haproxy | p50 ms | p90 ms | p99 ms | p99 added over direct ms | RSS idle MB | RSS peak at $rate rps MB | RSS peak MB | CPU cores at $rate rps | backend connections opened |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for t in direct skein haproxy nginx; do
    echo "| $t | ${rps1[$t]} | $(ratio "${rps1[$t]}" "${rps1[haproxy]}") | ${rps2[$t]} | $(ratio "${rps2[$t]}" "${rps2[haproxy]}") | ${p50[$t]} | ${p90[$t]} | ${p99[$t]} | $([ $t = direct ] && echo - || echo "${p99add[$t]}") | ${rssidle[$t]} | ${rssrate[$t]} | ${rsspeak[$t]} | ${cpu[$t]} | ${conns[$t]} |"
  done
  echo
  echo "Goals for skein-proxy (issue 3; reported, not asserted):"
  echo
  echo "| goal | skein-proxy | target | result |"
  echo "|---|---|---|---|"
  echo "| HTTP/1.1 throughput ≥ haproxy's | ${rps1[skein]} rps | ${rps1[haproxy]} rps | $(verdict ge "${rps1[skein]}" "${rps1[haproxy]}") ($(ratio "${rps1[skein]}" "${rps1[haproxy]}")×) |"
  echo "| h2c throughput ≥ haproxy's | ${rps2[skein]} rps | ${rps2[haproxy]} rps | $(verdict ge "${rps2[skein]}" "${rps2[haproxy]}") ($(ratio "${rps2[skein]}" "${rps2[haproxy]}")×) |"
  echo "| p99 added at $rate rps ≤ haproxy's | ${p99add[skein]} ms | ${p99add[haproxy]} ms | $(verdict ge "${p99add[haproxy]}" "${p99add[skein]}") |"
  echo "| RSS idle < 20 MB | ${rssidle[skein]} MB | 20 MB | $(verdict lt "${rssidle[skein]}" 20) |"
  echo "| RSS under load < 30 MB (peak at $rate rps; peak over the row) | ${rssrate[skein]} MB; ${rsspeak[skein]} MB | 30 MB | $(verdict lt "${rssrate[skein]}" 30) at $rate rps; $(verdict lt "${rsspeak[skein]}" 30) at full load |"
  echo "| CPU < 0.1 core per 1000 rps | $(echo "scale=3; ${cpu[skein]} * 1000 / $rate" | bc | sed 's/^\./0./') | 0.1 | $(verdict lt "$(echo "${cpu[skein]} * 1000 / $rate" | bc -l)" 0.1) |"
  echo
} > "$work/proxy-section.md"

# Replace the proxy section of RESULTS.md, keeping the other sections (or append it).
results=bench/RESULTS.md
[ -f $results ] || printf '# Benchmark results\n\nEvery figure here comes from a script in bench/, with the command that produced it.\n' > $results
if grep -q '^## Proxy: ' $results; then
  awk -v section="$work/proxy-section.md" '
    /^## Proxy: / { while ((getline line < section) > 0) print line; skip = 1; next }
    /^## / { skip = 0 }
    !skip { print }' $results > "$work/results.md"
else
  { cat $results; echo; cat "$work/proxy-section.md"; } > "$work/results.md"
fi
cp "$work/results.md" $results
cat "$work/proxy-section.md"
