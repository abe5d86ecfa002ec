"""A small lake for the HTJ2K job tests: source files and their expected outcomes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.uid import MPEG4HP41


#: pydicom bundled files copied as they are.
BUNDLED = (
    "CT_small.dcm", "SC_rgb_rle_2frame.dcm", "rtdose.dcm", "MR_small_bigendian.dcm", "JPEG2000.dcm",
    "SC_rgb_jpeg_dcmtk.dcm", "JPEG-lossy.dcm",
)
#: Files derived from MR_small.dcm (each with its own SOP Instance UID).
DERIVED = ("float.dcm", "video.dcm", "changed.dcm", "missing.dcm", "huge.dcm")

#: file, action of every frame, reason, frames, verification, stored transfer syntax, stored PI
FRAME_OUTCOMES = [
    ("CT_small.dcm", "transcoded", "lossless_source", 1, "openjpeg", "1.2.840.10008.1.2.4.202", "MONOCHROME2"),
    ("SC_rgb_rle_2frame.dcm", "transcoded", "lossless_source", 2, "openjpeg", "1.2.840.10008.1.2.4.202", "YBR_RCT"),
    ("rtdose.dcm", "transcoded", "lossless_source", 15, "openjph_only", "1.2.840.10008.1.2.4.202", "MONOCHROME2"),
    ("MR_small_bigendian.dcm", "transcoded", "lossless_source", 1, "openjpeg", "1.2.840.10008.1.2.4.202",
     "MONOCHROME2"),
    ("JPEG2000.dcm", "kept_original", "lossy_jpeg_2000", 1, None, "1.2.840.10008.1.2.4.91", "MONOCHROME2"),
    ("SC_rgb_jpeg_dcmtk.dcm", "kept_original", "lossy_jpeg", 1, None, "1.2.840.10008.1.2.4.50", "YBR_FULL"),
    ("float.dcm", "pass_through", "float_pixel_data", 1, None, "1.2.840.10008.1.2.1", "MONOCHROME2"),
    ("video.dcm", "pass_through", "video_transfer_syntax", 1, None, MPEG4HP41, "MONOCHROME2"),
]

#: file, quarantine reason, position, position kind
QUARANTINED = [
    ("JPEG-lossy.dcm", "pixel_decode_failed", 1, "frame"),
    ("changed.dcm", "source_changed", 0, "file"),
    ("missing.dcm", "source_changed", 0, "file"),
    ("huge.dcm", "invalid_pixel_attributes", 0, "file"),  # declares far more pixels than it holds
]


def bundled_path(name: str) -> Path:
    """Return the path of one of pydicom's bundled test files."""
    path = get_testdata_file(name, download=False)
    assert path is not None, f"pydicom's bundled {name} is missing"
    return Path(path)


def _derive(name: str, target: Path) -> None:
    ds = dcmread(bundled_path("MR_small.dcm"))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.10.1419.{len(name)}.{ord(name[0])}"
    if name == "float.dcm":
        del ds.PixelData, ds.BitsStored, ds.HighBit, ds.PixelRepresentation
        ds.BitsAllocated = 32
        ds.FloatPixelData = np.linspace(0, 1, 64 * 64, dtype="<f4").tobytes()
    elif name == "video.dcm":
        ds.file_meta.TransferSyntaxUID = MPEG4HP41
        ds.PixelData = encapsulate([b"\x00\x00\x01\xb3 not a real stream"])
    elif name == "huge.dcm":  # 1 000 frames of 65 535 x 65 535 declared, 512 bytes held: refused when planned
        ds.NumberOfFrames, ds.Rows, ds.Columns = 1000, 65535, 65535
        ds.PixelData = bytes(512)
    ds.save_as(target, enforce_file_format=True)


def write_sources(directory: Path) -> dict[str, Path]:
    """Write every source file into ``directory``; return name -> path."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in BUNDLED:
        paths[name] = directory / name
        shutil.copyfile(bundled_path(name), paths[name])
    for name in DERIVED:
        paths[name] = directory / name
        _derive(name, paths[name])
    return paths



def break_sources(paths: dict[str, Path]) -> None:
    """Change one source and delete another after they were ingested."""
    with open(paths["changed.dcm"], "ab") as f:
        f.write(b"\x00\x00")
    paths["missing.dcm"].unlink()
