"""Codec micro-benchmark: HTJ2K (OpenJPH) against JPEG 2000 lossless (OpenJPEG) on the same frames.

Not a test (pytest does not collect it). For each frame of a few pydicom bundled files it times
one-threaded lossless encoding with both codecs, decoding the HTJ2K codestream with OpenJPEG and
with OpenJPH, and records the sizes; every codestream is checked to decode to the original.

Run::

    .venv/bin/python benchmarks/htj2k_codec.py            # 20 repeats, best time kept
    .venv/bin/python benchmarks/htj2k_codec.py --repeat 1 # the CI smoke run
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import imagecodecs
import numpy as np
import openjpeg
from pydicom.data import get_testdata_file

from medlake.dicom.htj2k import encode_htj2k_frame
from medlake.dicom.pixels import decoded_photometric_interpretation, iter_frames, open_pixel_source

#: Lossless sources among pydicom's bundled files: CT, MR, 12-bit, 13-bit, RGB, palette, 8-bit.
FILES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "examples_overlay.dcm",
    "J2K_pixelrep_mismatch.dcm",
    "examples_rgb_color.dcm",
    "examples_palette.dcm",
    "image_dfl.dcm",
)


@dataclass
class Row:
    """Measurements for one frame (seconds and bytes)."""

    name: str
    shape: tuple[int, ...]
    bits: int
    raw: int
    htj2k: int
    j2k: int
    encode_htj2k: float
    encode_j2k: float
    decode_openjpeg: float
    decode_openjph: float


def _best(repeat: int, call: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def _measure(name: str, repeat: int) -> list[Row]:
    path = get_testdata_file(name, download=False)
    if path is None:
        raise SystemExit(f"Unable to find pydicom's bundled {name}")
    with open(path, "rb") as f:
        source = open_pixel_source(f.read())
    attrs = source.attributes
    rgb = attrs.samples_per_pixel == 3 and decoded_photometric_interpretation(attrs) == "RGB"
    rows = []
    for frame in iter_frames(source, range(attrs.number_of_frames)):

        def htj2k() -> bytes:
            return encode_htj2k_frame(frame, attrs.bits_stored, attrs.signed, rgb)

        def j2k() -> bytes:
            return bytes(imagecodecs.jpeg2k_encode(
                frame, level=0, codecformat=imagecodecs.JPEG2K.CODEC.J2K, reversible=True,
                bitspersample=attrs.bits_stored, mct=rgb, numthreads=1,
            ))

        ht, jp = htj2k(), j2k()
        for decoded in (openjpeg.decode(ht), imagecodecs.htj2k_decode(ht, planar=False), openjpeg.decode(jp)):
            if not np.array_equal(decoded, frame):
                raise SystemExit(f"Unable to benchmark {name} as a codestream does not decode to the original")
        rows.append(Row(
            name, frame.shape, attrs.bits_stored, frame.nbytes, len(ht), len(jp),
            _best(repeat, htj2k), _best(repeat, j2k),
            _best(repeat, lambda: openjpeg.decode(ht)),
            _best(repeat, lambda: imagecodecs.htj2k_decode(ht, planar=False)),
        ))
    return rows


def _table(rows: list[Row]) -> str:
    header = (f"{'file':28} {'shape':>13} {'bits':>4} {'raw B':>8} {'HTJ2K B':>8} {'J2K B':>8} "
              f"{'enc HT ms':>9} {'enc J2K ms':>10} {'speedup':>7} {'dec OPJ ms':>10} {'dec OJPH ms':>11}")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.name:28} {'x'.join(map(str, r.shape)):>13} {r.bits:>4} {r.raw:>8} {r.htj2k:>8} {r.j2k:>8} "
            f"{r.encode_htj2k * 1e3:>9.2f} {r.encode_j2k * 1e3:>10.2f} {r.encode_j2k / r.encode_htj2k:>6.1f}x "
            f"{r.decode_openjpeg * 1e3:>10.2f} {r.decode_openjph * 1e3:>11.2f}"
        )
    pixels = sum(int(np.prod(r.shape[:2])) for r in rows) / 1e6
    enc_ht, enc_j2k = sum(r.encode_htj2k for r in rows), sum(r.encode_j2k for r in rows)
    dec_opj, dec_ojph = sum(r.decode_openjpeg for r in rows), sum(r.decode_openjph for r in rows)
    raw, ht, j2k = sum(r.raw for r in rows), sum(r.htj2k for r in rows), sum(r.j2k for r in rows)
    lines += [
        "-" * len(header),
        f"total {len(rows)} frames, {pixels:.2f} Mpixel, {raw} raw bytes",
        f"size: HTJ2K {ht} B ({raw / ht:.2f}:1), JPEG 2000 {j2k} B ({raw / j2k:.2f}:1), "
        f"HTJ2K/J2K {ht / j2k:.3f}",
        f"encode: HTJ2K {pixels / enc_ht:.1f} Mpixel/s, JPEG 2000 {pixels / enc_j2k:.1f} Mpixel/s, "
        f"HTJ2K {enc_j2k / enc_ht:.1f}x faster",
        f"decode HTJ2K: OpenJPEG {pixels / dec_opj:.1f} Mpixel/s, OpenJPH {pixels / dec_ojph:.1f} Mpixel/s",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="timings per measurement; the best is kept")
    parser.add_argument("--tiny", action="store_true", help="one timing per measurement (the CI smoke run)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    rows = [row for name in FILES for row in _measure(name, 1 if args.tiny else args.repeat)]
    print(f"imagecodecs {imagecodecs.__version__} ({imagecodecs.htj2k_version()}, "
          f"{imagecodecs.jpeg2k_version()}), pylibjpeg-openjpeg {openjpeg.__version__}; one thread")
    print(_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
