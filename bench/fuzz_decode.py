"""Coverage-guided fuzzing of the decoder and request validation with atheris (libFuzzer).

    python bench/fuzz_decode.py -max_total_time=60 [corpus_dir]

Any exception other than a ``TracewiseError`` (which the service maps to a status) is a crash:
libFuzzer stops and writes the input to ``crash-*``. Seeds: a few real logos, so the fuzzer starts
from valid PNGs and mutates them.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from PIL import Image  # noqa: F401 - instrumented: its parsers are what we fuzz

from tracewise.decode import decode
from tracewise.errors import TracewiseError
from tracewise.objective import Objective

MAX_PIXELS = 1_000_000


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    choice = fdp.ConsumeIntInRange(0, 3)
    if choice == 0:  # request options: any numbers a client could send
        try:
            Objective(
                style=["spline", "polygon", "pixel", "x"][fdp.ConsumeIntInRange(0, 3)],
                max_svg_bytes=fdp.ConsumeIntInRange(-(2**40), 2**40) if fdp.ConsumeBool() else None,
                target_ssim=fdp.ConsumeRegularFloat() if fdp.ConsumeBool() else None,
                budget_s=fdp.ConsumeRegularFloat() if fdp.ConsumeBool() else None,
            )
        except TracewiseError:
            pass
        return
    try:
        decode(fdp.ConsumeBytes(fdp.remaining_bytes()), MAX_PIXELS)
    except TracewiseError:
        pass


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
