#!/bin/sh
# Regenerates the checked-in gRPC stubs (src/akidb/v1/) from the published proto.
# Needs grpcio-tools: python3 -m pip install --target target/pydeps grpcio-tools
# Run from the workspace root: sh clients/python/scripts/gen_grpc.sh
set -eu
out=clients/python/src
PYTHONPATH="${PYTHONPATH:-target/pydeps}" python3 -m grpc_tools.protoc \
  -I crates/akidb-proto/proto \
  --python_out="$out" --grpc_python_out="$out" \
  crates/akidb-proto/proto/akidb/v1/akidb.proto
# The stubs import `akidb.v1.akidb_pb2`, i.e. this package's akidb/v1/: no rewriting needed.
# Generated code is not typed: keep it out of `mypy --strict`.
for f in "$out"/akidb/v1/akidb_pb2.py "$out"/akidb/v1/akidb_pb2_grpc.py; do
  { echo "# mypy: ignore-errors"; cat "$f"; } > "$f.tmp" && mv "$f.tmp" "$f"
done
printf '"""Generated gRPC stubs of akidb.v1 (scripts/gen_grpc.sh)."""\n' > "$out/akidb/v1/__init__.py"
