"""Generate the Python stubs for protos/voidline/v1 into voidline/v1 (committed).

Run with `make protos` after editing a .proto; tests/test_protos.py fails while the committed
stubs differ from what this script produces.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PACKAGE_INIT = (
    '"""Generated gRPC/protobuf stubs for the voidline.v1 API (see protos/; do not edit)."""\n'
)


def proto_files() -> list[Path]:
    return sorted((PROTO_ROOT / "voidline" / "v1").glob("*.proto"))


def generate(out_dir: Path) -> None:
    """Write *_pb2.py, *_pb2.pyi and *_pb2_grpc.py for every proto under out_dir/voidline/v1."""
    target = out_dir / "voidline" / "v1"
    target.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(p.relative_to(PROTO_ROOT)) for p in proto_files()],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    (target / "__init__.py").write_text(PACKAGE_INIT)


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
