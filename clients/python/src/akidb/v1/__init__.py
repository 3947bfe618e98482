"""Generated gRPC stubs of akidb.v1 (scripts/gen_grpc.sh)."""
