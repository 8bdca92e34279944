#!/usr/bin/env bash
# What every bench/ script shares: a bounded run, Debian tools installed when missing, and stopping the processes
# a script started (also when it fails). Sourced, never run.

# bench_bounded BOUND_SECONDS SCRIPT ARGS...: unless already bounded, runs SCRIPT again under `timeout` (which
# signals its whole process group, servers included, on expiry) and exits with its status.
bench_bounded() {
  local bound=$1 script=$2; shift 2
  [ -z "${SKEIN_BENCH_BOUNDED:-}" ] || return 0
  export SKEIN_BENCH_BOUNDED=1
  timeout -k 15 "$bound" "$script" "$@" & local bounded=$!
  trap 'kill -TERM $bounded 2>/dev/null || true' INT TERM # timeout has its own process group: pass Ctrl-C on
  local rc=0; while kill -0 $bounded 2>/dev/null; do rc=0; wait $bounded || rc=$?; done
  if [ $rc = 124 ]; then echo "$(basename "$script"): stopped after its ${bound}s bound" >&2; fi
  exit $rc
}

# bench_install COMMAND:PACKAGE...: installs the Debian packages whose command is missing (dpkg:PACKAGE: a
# package without a command, such as a library).
bench_install() {
  local missing=() pair
  for pair in "$@"; do
    if [ "${pair%%:*}" = dpkg ]; then dpkg -s "${pair#*:}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    else command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}"); fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Every process a script starts goes into pids; stop_proc stops one (TERM, then KILL with its children after 5 s).
pids=()
stop_proc() {
  local p=$1 kids i
  kids=$(pgrep -P "$p" || true)
  kill -TERM "$p" 2>/dev/null || true
  for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" $kids 2>/dev/null || true; fi
  wait "$p" 2>/dev/null || true
  local keep=(); for i in "${pids[@]}"; do [ "$i" = "$p" ] || keep+=("$i"); done; pids=("${keep[@]}")
}

# bench_stop_all_on_exit NAME: stops every process in pids when the script ends, however it ends.
bench_stop_all_on_exit() {
  trap 'rc=$?; trap - EXIT INT TERM; for p in "${pids[@]}"; do stop_proc "$p"; done; exit $rc' EXIT
  trap "echo \"$1: interrupted\" >&2; exit 130" INT TERM
}
