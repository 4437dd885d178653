"""Make PyPI's CUDA-linked torchvision importable beside a CPU-only torch (idempotent).

PyPI's torchvision Linux wheel links its C extension against CUDA torch libraries that a ``+cpu``
torch does not ship. The extension then fails to load and torchvision's unconditional
fake/autograd registrations for its C ops raise "operator torchvision::nms does not exist" at
import. We guard those two registrations behind ``extension._has_ops()``: pure-tensor APIs (the
transforms Qwen3-VL's image processor uses) keep working; ``torchvision.ops.nms`` and friends do
not (nothing here uses them).
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

OLD = """from torchvision import (
    _autograd_registrations,
    _meta_registrations,
    datasets,"""
NEW = """if extension._has_ops():  # qwen3vl-agent: CPU torch + CUDA-linked torchvision wheel
    from torchvision import _autograd_registrations, _meta_registrations  # noqa: F401
from torchvision import (
    datasets,"""


def main() -> int:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        print("torchvision is not installed", file=sys.stderr)
        return 1
    init = pathlib.Path(spec.origin)
    src = init.read_text()
    if NEW in src:
        print(f"   already patched: {init}")
        return 0
    if OLD not in src:
        print(f"unexpected layout of {init}; cannot patch", file=sys.stderr)
        return 1
    init.write_text(src.replace(OLD, NEW))
    print(f"   patched: {init}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
