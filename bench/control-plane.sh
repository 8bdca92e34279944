#!/usr/bin/env bash
# Scale benchmark of skein-control (issue 4): one real skein-control process (Release) on loopback serving a
# generated mesh of 1,000 Services (2 Workloads, a DestinationRule with 2 subsets and a VirtualService with a weighted
# route each; 2,000 instances registered through the HTTP API) to 2,000 fake ADS proxies over real gRPC (h2c, one
# HTTP/2 connection each), then 20 config changes through the HTTP API. Reports the initial sync time, the time from
# each change to the last proxy's ACK (p50/p99/max), skein-control's managed heap, RSS (VmRSS/VmHWM) and CPU
# seconds, and what was pushed. The program is bench/ControlPlaneScale (see its Program.cs).
# The whole run, build included, is bounded (SKEIN_BENCH_SECONDS, default 290 s): changes that would not finish in
# time are not started, and the report says how many were measured (SKEIN_BENCH_SECONDS=520 leaves room for all
# 20 on a busy 2-core machine).
# Writes bench/RESULTS.md (the "Control plane:" section; other sections are kept).
# Usage: bench/control-plane.sh [--quick]    (--quick: 200 services, 400 proxies, 5 changes)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
started=$(date +%s)
budget=${SKEIN_BENCH_SECONDS:-290}
work=/tmp/skein-bench-control
quick=0; [ "${1:-}" = "--quick" ] && quick=1
services=1000; changes=20
[ $quick = 1 ] && { services=200; changes=5; }

rm -rf "$work"; mkdir -p "$work"
bench_pid=""
cleanup() {
  # Only what this script started: the benchmark, and the skein-control it started (its pid file is removed
  # once skein-control has exited, so a stale pid is never signalled).
  if [ -n "$bench_pid" ]; then kill "$bench_pid" 2>/dev/null || true; wait "$bench_pid" 2>/dev/null || true; fi
  if [ -f "$work/run/skein-control.pid" ]; then kill "$(cat "$work/run/skein-control.pid")" 2>/dev/null || true; fi
}
trap cleanup EXIT

echo "== building skein-control and the benchmark (Release)"
dotnet build src/Skein.ControlPlane -c Release -nologo -v quiet -clp:ErrorsOnly -o "$root/artifacts/bench/control" >/dev/null
dotnet build bench/ControlPlaneScale -c Release -nologo -v quiet -clp:ErrorsOnly -o "$root/artifacts/bench/control-plane-scale" >/dev/null

left=$(( budget - ($(date +%s) - started) - 10 ))
if [ $left -lt 60 ]; then echo "only ${left}s of the ${budget}s budget left after the build" >&2; exit 1; fi
echo "== $services services, $((services * 2)) proxies, $changes changes; benchmark bounded to ${left}s (progress on stderr)"
timeout -k 5 $((left + 5)) "$root/artifacts/bench/control-plane-scale/ControlPlaneScale" \
  --control "$root/artifacts/bench/control/skein-control" --services $services --changes $changes \
  --deadline $left --work "$work/run" --clk-tck "$(getconf CLK_TCK)" \
  --section "$work/section.md" --json "$work/result.json" \
  --command "bench/control-plane.sh$([ $quick = 1 ] && echo ' --quick')" > "$work/bench.out" &
bench_pid=$!
if ! wait $bench_pid; then
  bench_pid=""
  echo "the benchmark failed; skein-control's log: $work/run/skein-control.log" >&2
  exit 1
fi
bench_pid=""

# Replace the control plane section of RESULTS.md, keeping the other sections.
results=bench/RESULTS.md
[ -f $results ] || printf '# Benchmark results\n\nEvery figure here comes from a script in bench/, with the command that produced it.\n\n' > $results
awk -v section="$work/section.md" '
  /^## Control plane: / { while ((getline line < section) > 0) print line; skip = 1; next }
  /^## / { skip = 0 }
  !skip { print }' $results > "$work/results.md"
grep -q '^## Control plane: ' $results || { echo; cat "$work/section.md"; } >> "$work/results.md"
cp "$work/results.md" $results
cat "$work/section.md"
echo "== whole run: $(( $(date +%s) - started ))s"
