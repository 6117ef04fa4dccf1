"""The API contract: committed stubs match the protos, buf lint is clean, the domain has no gRPC."""

from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("generate", ROOT / "protos" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_stubs_match_the_protos(tmp_path: Path) -> None:
    load_generator().generate(tmp_path)
    generated = sorted(p.name for p in (tmp_path / "voidline" / "v1").iterdir())
    committed = sorted(
        p.name for p in (ROOT / "voidline" / "v1").iterdir() if p.suffix in (".py", ".pyi")
    )
    assert generated == committed, "run `make protos` and commit voidline/v1"
    for name in generated:
        fresh = (tmp_path / "voidline" / "v1" / name).read_text()
        assert fresh == (ROOT / "voidline" / "v1" / name).read_text(), (
            f"voidline/v1/{name} is stale: run `make protos` and commit the result"
        )


def test_buf_lint_standard_is_clean() -> None:
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx (Node.js) not installed: buf lint needs @bufbuild/buf from npm")
    try:
        result = subprocess.run(
            [npx, "--yes", "@bufbuild/buf@1.75.0", "lint"],
            cwd=ROOT / "protos",
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("fetching @bufbuild/buf from npm timed out")
    if result.returncode != 0 and "npm" in result.stderr and "ERR" in result.stderr:
        pytest.skip(f"could not run buf from npm: {result.stderr.strip()[-300:]}")
    assert result.returncode == 0, result.stdout + result.stderr


DOMAIN_PACKAGES = [
    "voidline/audio",
    "voidline/analysis",
    "voidline/dsp",
    "voidline/mastering",
    "voidline/stems",
]


@pytest.mark.parametrize("package", DOMAIN_PACKAGES)
def test_domain_code_imports_no_grpc(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("grpc", "voidline.v1", "services", "gateway")), (
                    f"{path.relative_to(ROOT)} imports {name}: domain code must not know gRPC"
                )


def test_python_is_311() -> None:
    assert sys.version_info[:2] == (3, 11)
