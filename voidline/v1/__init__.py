"""Generated gRPC/protobuf stubs for the voidline.v1 API (see protos/; do not edit)."""
