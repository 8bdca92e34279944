#!/usr/bin/env bash
# What telemetry costs skein-proxy: throughput with Istio metrics + metadata exchange + tracing at 1% (spans sent
# to an OTLP/HTTP endpoint) against the same proxy with --no-metrics --no-tracing, in front of the same fixed
# backend as bench/proxy.sh (nginx, bench/configs/backend-nginx.conf and skein-bootstrap.json, moved to their own
# ports so both scripts can run on one machine). The two settings alternate over several rounds (the machine is
# shared: alternating spreads background load over both), each round measuring HTTP/1.1 with wrk and h2c with
# h2load; the medians are compared. Writes the "## Proxy telemetry cost" section of bench/RESULTS.md, keeping the
# other sections. Bounded (timeout); every process it starts is stopped, even on failure.
# Usage: bench/telemetry.sh [--quick] [--jit]     (--quick: 2 rounds of 5 s; default 3 rounds of 15 s)
set -euo pipefail
self=$(readlink -f "$0")
quick=0; force_jit=0
for a in "$@"; do
  case $a in
    --quick) quick=1 ;;
    --jit) force_jit=1 ;;
    *) echo "usage: bench/telemetry.sh [--quick] [--jit]" >&2; exit 2 ;;
  esac
done

# shellcheck source=bench/lib.sh
source "$(dirname "$self")/lib.sh"
bench_bounded "$([ $quick = 1 ] && echo 900 || echo 1800)" "$self" "$@"

cd "$(dirname "$self")/.."
root=$(pwd)
work=/tmp/skein-telemetry-bench
duration=$([ $quick = 1 ] && echo 5 || echo 15)
rounds=$([ $quick = 1 ] && echo 2 || echo 3)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date +%s)

tools=(wrk:wrk h2load:nghttp2-client nginx:nginx bc:bc curl:curl)
[ $force_jit = 1 ] || tools+=(clang:clang dpkg:zlib1g-dev)
bench_install "${tools[@]}"

rm -rf "$work"; mkdir -p "$work"
bench_stop_all_on_exit bench/telemetry.sh

echo "== building skein-proxy (NativeAOT publish)"
if [ $force_jit = 0 ] && dotnet publish src/Skein.Proxy -c Release -r linux-x64 -p:PublishAot=true -nologo \
     -o "$root/artifacts/bench/telemetry-aot" > "$work/publish.log" 2>&1; then
  proxy_cmd=("$root/artifacts/bench/telemetry-aot/skein-proxy")
  proxy_build="NativeAOT"
else
  [ $force_jit = 0 ] && { echo "NativeAOT publish failed (log: $work/publish.log); using the JIT build" >&2; tail -5 "$work/publish.log" >&2; }
  dotnet build src/Skein.Proxy -c Release -nologo -v quiet -clp:ErrorsOnly -o "$root/artifacts/bench/telemetry-jit" >/dev/null
  proxy_cmd=("$root/artifacts/bench/telemetry-jit/skein-proxy")
  proxy_build="JIT ($([ $force_jit = 1 ] && echo 'chosen with --jit' || echo 'the NativeAOT publish failed'))"
fi

wait_port() {
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 did not open" >&2; return 1
}

# bench/proxy.sh's backend on ports 181xx, plus an OTLP/HTTP endpoint that accepts every batch (POST /v1/traces → 200).
sed -e 's#/tmp/skein-bench#'"$work"'#g' -e 's/180\([0-9][0-9]\)/181\1/g' bench/configs/backend-nginx.conf \
  | awk '{ lines[NR] = $0 } END { for (i = 1; i < NR; i++) print lines[i];
      print "  server { listen 127.0.0.1:18188; client_max_body_size 64m; location = /v1/traces { default_type application/json; return 200 \"{}\"; } }";
      print lines[NR] }' > "$work/backend.conf"
nginx -c "$work/backend.conf" -p "$work" & pids+=($!)
wait_port 18180; wait_port 18188

# bench/proxy.sh's bootstrap (explicit mode, listener chosen by the Host port) on 18195, with a workload's node metadata.
sed -e 's/18095/18195/g' -e 's/18080/18180/g' \
    -e 's#"cluster": "bench" }#"cluster": "bench", "metadata": {"NAMESPACE": "default", "WORKLOAD_NAME": "bench-v1", "SERVICE_ACCOUNT": "bench", "LABELS": {"app": "bench", "version": "v1"}} }#' \
    bench/configs/skein-bootstrap.json > "$work/bootstrap.json"
grep -q WORKLOAD_NAME "$work/bootstrap.json" || { echo "bootstrap node metadata not inserted" >&2; exit 1; }

start_proxy() { # $1: off | on
  local extra
  if [ "$1" = off ]; then extra=(--no-metrics --no-tracing)
  else extra=(--trace-sampling 1 --trace-collector http://127.0.0.1:18188/v1/traces); fi
  "${proxy_cmd[@]}" --bootstrap "$work/bootstrap.json" --mode explicit --drain-duration 1s \
    --outbound-port 18195 --inbound-port 18196 --admin-port 18197 --stats-port 18198 --health-port 18199 "${extra[@]}" \
    > "$work/skein-$1.log" 2>&1 & pid=$!; pids+=("$pid")
  wait_port 18195; wait_port 18198
  curl -sf -o /dev/null http://127.0.0.1:18195/ || { echo "$1: HTTP/1.1 request failed" >&2; return 1; }
  curl -sf -o /dev/null --http2-prior-knowledge http://127.0.0.1:18195/ || { echo "$1: h2c request failed" >&2; return 1; }
}

declare -A h1 h2 f1 f2
for round in $(seq 1 "$rounds"); do
  for mode in off on; do
    echo "== round $round: telemetry $mode"
    start_proxy $mode
    wrk -t2 -c50 -d3s http://127.0.0.1:18195/ > /dev/null
    timeout $((duration + 30)) wrk -t2 -c50 -d${duration}s http://127.0.0.1:18195/ > "$work/$mode-$round-wrk.txt"
    h1[$mode,$round]=$(awk '/^Requests\/sec/ {printf "%d", $2}' "$work/$mode-$round-wrk.txt")
    f1[$mode,$round]=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$work/$mode-$round-wrk.txt")
    timeout $((duration + 30)) h2load -c50 -m10 -t2 --warm-up-time=2 -D $duration http://127.0.0.1:18195/ > "$work/$mode-$round-h2load.txt" 2>&1 || true
    h2[$mode,$round]=$(awk '/^finished in/ {printf "%d", $4}' "$work/$mode-$round-h2load.txt")
    f2[$mode,$round]=$(awk '/^requests:/ {gsub(",", ""); n += $10 + $12 + $14} /^status codes:/ {gsub(",", ""); n += $7 + $9} END {print n + 0}' "$work/$mode-$round-h2load.txt")
    if [ $mode = on ]; then
      curl -s http://127.0.0.1:18198/stats/prometheus > "$work/on-$round-metrics.txt"
      requests[$round]=$(awk '/^istio_requests_total\{/ {n += $NF} END {printf "%d", n}' "$work/on-$round-metrics.txt")
      spans[$round]=$(awk '/^skein_proxy_spans_exported_total / {print $2}' "$work/on-$round-metrics.txt")
      dropped[$round]=$(awk '/^skein_proxy_spans_(dropped|failed)_total / {n += $2} END {print n + 0}' "$work/on-$round-metrics.txt")
    fi
    echo "   wrk ${h1[$mode,$round]} rps (failures ${f1[$mode,$round]}), h2load ${h2[$mode,$round]} rps (failures ${f2[$mode,$round]})"
    stop_proc "$pid"
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

bad=()
for mode in off on; do for round in $(seq 1 "$rounds"); do
  for v in "${h1[$mode,$round]}" "${h2[$mode,$round]}"; do [[ "$v" =~ ^[0-9]+$ ]] || bad+=("$mode round $round: missing figure '$v'"); done
  [ "${f1[$mode,$round]}:${f2[$mode,$round]}" = "0:0" ] || bad+=("$mode round $round: failures wrk ${f1[$mode,$round]}, h2load ${f2[$mode,$round]}")
done; done
for round in $(seq 1 "$rounds"); do [ "${requests[$round]:-0}" -gt 0 ] || bad+=("round $round: no istio_requests_total with telemetry on"); done
if [ ${#bad[@]} -gt 0 ]; then printf 'bench/telemetry.sh: %s\n' "${bad[@]}" >&2; echo "RESULTS.md not written; raw output in $work" >&2; exit 1; fi

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
list() { local k=$1 m=$2 out=() r; for r in $(seq 1 "$rounds"); do eval "out+=(\${$k[$m,$r]})"; done; echo "${out[*]}"; }
cost() { echo "scale=1; ($1 - $2) * 100 / $1" | bc | sed -E 's/^(-?)\./\10./'; }
verdict() { if [ "$(echo "$1 < 5" | bc)" = 1 ]; then echo "**met**"; else echo "**not met**"; fi; }
h1_off=$(median $(list h1 off)); h1_on=$(median $(list h1 on)); h2_off=$(median $(list h2 off)); h2_on=$(median $(list h2 on))
c1=$(cost "$h1_off" "$h1_on"); c2=$(cost "$h2_off" "$h2_on")
cmd="bench/telemetry.sh"; [ $quick = 0 ] || cmd+=" --quick"; [ $force_jit = 0 ] || cmd+=" --jit"

{
  echo "## Proxy telemetry cost"
  echo
  echo "Produced by \`$cmd\` on $(date -u +%Y-%m-%d) in $(( $(date +%s) - started )) s ($(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)); $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), $(h2load --version | cut -d' ' -f2); .NET $(dotnet --list-runtimes | awk '/NETCore.App/ {v = $2} END {print v}')). Load average (1/5/15 min) $load_start at the start and $load_end at the end: the machine is shared, other work ran beside the benchmark."
  echo
  echo "skein-proxy build: **$proxy_build**. Same setup as the Proxy section (nginx backend with a 29-byte static body on loopback, skein-proxy in explicit mode with the bench bootstrap, here with a workload's node metadata; everything on the same cores). **off**: \`--no-metrics --no-tracing\`. **on**: the defaults: Istio standard metrics and the proxy's own request series recorded per request, metadata exchange headers added to every upstream request, trace context read and rewritten on every request (\`traceparent\`, \`x-b3-*\`, \`x-request-id\` created), 1% of requests sampled and their spans sent in batches to an OTLP/HTTP endpoint (an nginx location answering 200). The settings alternate, off then on, for $rounds rounds; each round: \`wrk -t2 -c50 -d${duration}s\` (HTTP/1.1 keep-alive) after a 3 s warm-up, then \`h2load -c50 -m10 -t2 --warm-up-time=2 -D $duration\` (h2c). Every request of every run succeeded, and every \"on\" run recorded its requests in \`istio_requests_total\` (checked by the script)."
  echo
  echo "| protocol | off: rps per round | on: rps per round | off median | on median | cost of telemetry |"
  echo "|---|---|---|---|---|---|"
  echo "| HTTP/1.1 (wrk) | $(list h1 off | sed 's/ /, /g') | $(list h1 on | sed 's/ /, /g') | $h1_off | $h1_on | $c1% |"
  echo "| h2c (h2load) | $(list h2 off | sed 's/ /, /g') | $(list h2 on | sed 's/ /, /g') | $h2_off | $h2_on | $c2% |"
  echo
  echo "Spans exported per \"on\" round (1% sampling): $(for r in $(seq 1 "$rounds"); do printf '%s ' "${spans[$r]:-0}"; done)(dropped or failed: $(for r in $(seq 1 "$rounds"); do printf '%s ' "${dropped[$r]:-0}"; done| sed 's/ $//'))."
  echo
  echo "| goal (issue 7) | result |"
  echo "|---|---|"
  echo "| telemetry costs under 5% of throughput, HTTP/1.1 | $c1% $(verdict "$c1") |"
  echo "| telemetry costs under 5% of throughput, h2c | $c2% $(verdict "$c2") |"
  echo
} > "$work/telemetry-section.md"

results=bench/RESULTS.md
[ -f $results ] || printf '# Benchmark results\n\nEvery figure here comes from a script in bench/, with the command that produced it.\n' > $results
if grep -q '^## Proxy telemetry cost' $results; then
  awk -v section="$work/telemetry-section.md" '
    /^## Proxy telemetry cost/ { while ((getline line < section) > 0) print line; skip = 1; next }
    /^## / { skip = 0 }
    !skip { print }' $results > "$work/results.md"
else
  { cat $results; echo; cat "$work/telemetry-section.md"; } > "$work/results.md"
fi
cp "$work/results.md" $results
cat "$work/telemetry-section.md"
