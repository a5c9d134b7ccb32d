#!/usr/bin/env bash
# Build the container image from deploy/Dockerfile with buildah (daemonless,
# Debian package) and smoke-run it: the daemon starts as uid 65532 from the
# image, serves gRPC and /metrics on loopback, and the CLI from the same
# image lists its endpoints.
#
# Offline machines cannot pull the Dockerfile's Go build image, so the
# build stage is replaced by a context holding host-built static binaries
# (--build-context build=DIR); with registry access, run
# `buildah build -f deploy/Dockerfile .` and the Go stage compiles instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tag=${IMAGE_TAG:-localhost/connbroker:dev}
if ! command -v buildah >/dev/null; then
  echo "installing buildah (Debian package)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q buildah >/dev/null
fi
ctx=$(mktemp -d)
cfg=$(mktemp -d)
ctr=""
pid=""
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  [[ -n $ctr ]] && buildah rm "$ctr" >/dev/null 2>&1 || true
  rm -rf "$ctx" "$cfg"
}
trap cleanup EXIT
mkdir -p "$ctx/out" "$ctx/etc/ssl/certs"
(cd "$root" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags="-s -w" -o "$ctx/out/connbrokerd" ./cmd/connbrokerd \
  && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags="-s -w" -o "$ctx/out/connbroker" ./cmd/connbroker)
cp /etc/ssl/certs/ca-certificates.crt "$ctx/etc/ssl/certs/"
buildah build -q --build-context build="$ctx" -f "$root/deploy/Dockerfile" -t "$tag" "$root" >/dev/null
echo "built $tag: user $(buildah inspect --format '{{.OCIv1.Config.User}}' "$tag"), $(buildah images --format '{{.Size}}' "$tag")"

# Smoke run. crun cannot create cgroups on these machines ("cgroups in
# hybrid mode not supported"), so run with chroot isolation (host network).
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gport=$(port); mport=$(port)
printf 'listen: 127.0.0.1:%s\nmetrics: {listen: "127.0.0.1:%s"}\nendpoints:\n  orders:\n    host: orders.proxy-abc123.us-west-2.rds.amazonaws.com\n    user: app\n    auth: iam\n' "$gport" "$mport" > "$cfg/config.yaml"
chmod 755 "$cfg"; chmod 644 "$cfg/config.yaml"
ctr=$(buildah from "$tag")
AWS_EC2_METADATA_DISABLED=true buildah run --isolation chroot --user 65532:65532 -v "$cfg:/etc/connbroker:ro" "$ctr" -- \
  /usr/local/bin/connbrokerd --dev --config /etc/connbroker/config.yaml >"$cfg/log" 2>&1 &
pid=$!
for _ in $(seq 50); do
  buildah run --isolation chroot "$ctr" -- /usr/local/bin/connbroker --broker "127.0.0.1:$gport" endpoints >"$cfg/out" 2>&1 && break
  sleep 0.2
done
grep -q '^orders' "$cfg/out" || { echo "image smoke run failed:"; cat "$cfg/out" "$cfg/log"; exit 1; }
curl -fsS -o "$cfg/metrics" "http://127.0.0.1:$mport/metrics"
grep -q '^grpc_server_handled_total' "$cfg/metrics" || { echo "no metrics from the image"; exit 1; }
echo "image runs: connbrokerd (user 65532) served ListEndpoints and /metrics"
