"""The committed stubs are what the protos generate (regenerate: python scripts/gen_protos.py)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_is_fresh(tmp_path):
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts" / "gen_protos.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.main(tmp_path) == 0
    committed = ROOT / "clients" / "python" / "tracewise_client" / "v1"
    for f in (tmp_path / "v1").iterdir():
        assert f.read_text() == (committed / f.name).read_text(), (
            f"{f.name} is stale: run scripts/gen_protos.py"
        )
