#!/usr/bin/env bash
# Installs the Debian packages Skein's demo and tests use. Idempotent and quiet when
# everything is present; needs root (or sudo) only when something is missing.
# iproute2, iptables, util-linux (setpriv, setsid): the netns runtime of `skein up`; curl: calls from client pods.
# prometheus: the real-Prometheus scrape test; chromium: the dashboard's browser test (driven by Playwright);
# tcpdump: the test that captures sidecar-to-sidecar traffic on the bridge.
SKEIN_APT_PACKAGES=(iproute2 iptables util-linux curl prometheus chromium tcpdump)

install_prereqs() {
  local missing=()
  for pkg in "${SKEIN_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ! command -v dotnet >/dev/null 2>&1; then
    echo "dotnet (the .NET 10 SDK) is required: see https://learn.microsoft.com/dotnet/core/install/linux-debian" >&2
    return 1
  fi
  # Node (for the grpc-js-xds interop test): Debian's packages only when no node is installed,
  # so an existing Node install (with its own npm) is never replaced.
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}
