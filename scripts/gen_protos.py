"""Regenerate the Python code (messages, stubs, .pyi) from protos/ into the client SDK.

    python scripts/gen_protos.py

The generated modules live in ``tracewise_client.v1``; protoc writes absolute imports
(``from tracewise.v1 import ...``) and module names that would collide with the engine
package, so both are rewritten here (the proto package stays ``tracewise.v1``).
Generated files are never edited by hand.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTOS = ROOT / "protos"
OUT = ROOT / "clients" / "python" / "tracewise_client"


def main(out: Path = OUT) -> int:
    sources = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "tracewise" / "v1").glob("*.proto"))
    tmp = out / "_gen"
    tmp.mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"
    rc = protoc.main(
        [
            "protoc",
            f"-I{PROTOS}",
            f"-I{include}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *sources,
        ]
    )
    if rc != 0:
        return rc
    dest = out / "v1"
    dest.mkdir(exist_ok=True)
    for f in (tmp / "tracewise" / "v1").iterdir():
        text = re.sub(r"^from tracewise\.v1 import", "from . import", f.read_text(), flags=re.M)
        # The module name recorded in the messages (used by pickle, e.g. across Ray processes).
        text = re.sub(
            r"(BuildTopDescriptorsAndMessages\(DESCRIPTOR, )'tracewise\.v1\.",
            r"\1'tracewise_client.v1.",
            text,
        )
        (dest / f.name).write_text(text)
    for f in sorted(tmp.rglob("*"), reverse=True):
        f.unlink() if f.is_file() else f.rmdir()
    tmp.rmdir()
    (dest / "__init__.py").write_text('"""Generated from protos/tracewise/v1 by scripts/gen_protos.py."""\n')
    print(f"generated {', '.join(sorted(p.name for p in dest.glob('*_pb2*')))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
