#!/usr/bin/env bash
# Generate the Go and Python stubs from proto/ into OUT_DIR (the repo root for
# `make generate`, a temp dir for the freshness check). Offline: buf runs the
# protoc-gen-go/-go-grpc/-go-vtproto pinned as `tool` lines in go.mod; Python stubs come
# from the protoc bundled in the pinned grpcio-tools.
set -euo pipefail
buf=$1 py=$2 out=$3
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p "$out/proto" "$out/clients/python"
"$buf" generate --output "$out"
"$py" -m grpc_tools.protoc -Iproto \
  --python_out="$out/clients/python" --pyi_out="$out/clients/python" --grpc_python_out="$out/clients/python" \
  proto/connbroker/v1/broker.proto
