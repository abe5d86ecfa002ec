"""A work unit's slice of its source (header before Pixel Data, its frames' bytes) transcodes as the whole file does.

Every pydicom test file with pixel data that the ingest loads is cut into units of two frames; each
unit is transcoded from its slice and from the whole file, and the results must be equal: the
same status, reason, stored bytes, CRC32, photometric interpretation and transfer syntax per frame.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pydicom.data
import pytest

from medlake.dicom.frames.transcode import InstanceResult, transcode_frames
from medlake.dicom.frames.work_units import PendingInstance, plan_work_units
from medlake.dicom.header import read_instance

_TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
_PENDING_FIELDS = {f.name for f in fields(PendingInstance)}


def _pending(path: Path) -> PendingInstance | None:
    """Return the instance as the HTJ2K job would plan it, or None if it would not."""
    record = read_instance(path.read_bytes(), f"file:/data/{path.name}")
    if record.outcome != "loaded" or not record.has_pixel_data:
        return None
    row = record.as_row() | {"content_hash": record.content_sha256}
    instance = PendingInstance(**{key: value for key, value in row.items() if key in _PENDING_FIELDS})
    return None if instance.missing_pixel_bytes() else instance


_PLANNED = {path.name: instance for path in sorted(_TEST_FILES.glob("*.dcm")) if (instance := _pending(path))}


def _outcome(result: InstanceResult) -> tuple[object, ...]:
    frames = [(f.index, f.status, f.reason, f.data, f.crc32, f.photometric_interpretation, f.transfer_syntax)
              for f in result.frames]
    return result.failure, str(result.decision), frames


@pytest.mark.parametrize("name", sorted(_PLANNED))
def test_slice_transcodes_as_the_whole_file(name: str) -> None:
    data = (_TEST_FILES / name).read_bytes()
    instance = _PLANNED[name]
    for unit in plan_work_units([instance], instance.frame_pixel_bytes * 2):
        byte_range = unit.source_slice()
        if byte_range is None:  # travels whole (deflated, bit-packed, ...)
            continue
        frames = range(unit.frame_start, unit.frame_end)
        part = data[:byte_range.header_length] + data[byte_range.start:byte_range.end]
        assert len(part) < len(data) or unit.instance.frames == 1
        assert _outcome(transcode_frames(part, frames, byte_range)) == _outcome(transcode_frames(data, frames))


def test_most_units_travel_as_slices() -> None:
    sliced = [unit.source_slice() is not None for unit in plan_work_units(_PLANNED.values(), 1)]
    assert sliced.count(True) > 10 * sliced.count(False)
