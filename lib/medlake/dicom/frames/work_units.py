"""Work units of the HTJ2K job: instances cut into groups of consecutive frames, packed into balanced tasks.

Planned on the driver from ``dicom.instance`` metadata alone (rows x columns x samples x bytes per
sample x frames), so a 1 000-frame instance spreads over many tasks and no task holds more than
``dicom.max_task_pixel_bytes`` of decoded pixels at once.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pydicom.uid import ExplicitVRBigEndian, UncompressedTransferSyntaxes

from medlake.dicom.frames.source import SourceSlice

__all__ = ["PendingInstance", "WorkUnit", "assign_tasks", "plan_work_units", "task_count"]

_ITEM_HEADER = 8
#: The most bytes of a pixel data element's header before its value (tag, VR, reserved, length).
_ELEMENT_HEADER = 12


@dataclass(frozen=True)
class PendingInstance:
    """An ingested instance with pixel data still to transcode: what ``dicom.instance`` says of it."""

    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    source_uri: str
    content_hash: str
    image_set_id: str | None = None
    number_of_frames: int | None = None
    rows: int | None = None
    columns: int | None = None
    samples_per_pixel: int | None = None
    bits_allocated: int | None = None
    pixel_data_length: int | None = None
    pixel_data_encapsulated: bool | None = None
    transfer_syntax_uid: str | None = None
    photometric_interpretation: str | None = None
    pixel_data_offset: int | None = None
    pixel_data_in_inflated_stream: bool | None = None
    pixel_data_fragment_offsets: list[int] | None = field(default=None, repr=False)
    pixel_data_fragment_lengths: list[int] | None = field(default=None, repr=False)
    pixel_data_basic_offsets: list[int] | None = field(default=None, repr=False)

    @property
    def frames(self) -> int:
        """Return the number of frames to process (1 when the header gives no usable count)."""
        return self.number_of_frames if self.number_of_frames and self.number_of_frames > 0 else 1

    @property
    def frame_pixel_bytes(self) -> int:
        """Return the decoded size of one frame (at least 1, so every frame weighs something)."""
        sample_bytes = max(1, math.ceil((self.bits_allocated or 8) / 8))
        return max(1, (self.rows or 0) * (self.columns or 0) * (self.samples_per_pixel or 1) * sample_bytes)

    def missing_pixel_bytes(self) -> int:
        """Return how many bytes native Pixel Data lacks for the frames the header declares (0: none).

        Counted at the least the header allows (1-bit pixels packed, three samples possibly 4:2:2
        subsampled), so a valid file never lacks any; encapsulated pixel data is not judged here.

        Examples
        --------
        >>> bomb = PendingInstance("1.2", "1", "1.1", "file:/a.dcm", "0" * 64, number_of_frames=1000,
        ...                        rows=65535, columns=65535, samples_per_pixel=1, bits_allocated=16,
        ...                        pixel_data_length=512, pixel_data_encapsulated=False)
        >>> bomb.missing_pixel_bytes()
        8589672449488
        """
        if self.pixel_data_encapsulated or self.pixel_data_length is None:
            return 0
        samples = 2 if self.samples_per_pixel == 3 else (self.samples_per_pixel or 1)
        bits = self.frames * (self.rows or 0) * (self.columns or 0) * samples * (self.bits_allocated or 0)
        return max(0, -(-bits // 8) - self.pixel_data_length)


    def frame_fragments(self) -> list[list[int]] | None:
        """Return the fragment indices of each frame of encapsulated pixel data, or None where ambiguous.

        One frame takes every fragment; otherwise the Basic Offset Table decides, or one fragment
        per frame when there are as many fragments as frames.

        Examples
        --------
        >>> inst = PendingInstance("1", "1", "1", "f", "h", number_of_frames=2, pixel_data_encapsulated=True,
        ...                        pixel_data_fragment_offsets=[108, 208, 308],
        ...                        pixel_data_fragment_lengths=[92, 92, 92], pixel_data_basic_offsets=[0, 200])
        >>> inst.frame_fragments()
        [[0, 1], [2]]
        """
        offsets = self.pixel_data_fragment_offsets or []
        if not offsets:
            return None
        if self.frames == 1:
            return [list(range(len(offsets)))]
        basic = self.pixel_data_basic_offsets or []
        if len(basic) == self.frames and basic[0] == 0 and all(a < b for a, b in zip(basic, basic[1:])):
            first_item = offsets[0] - _ITEM_HEADER
            grouped: list[list[int]] = [[] for _ in basic]
            for index, offset in enumerate(offsets):
                grouped[bisect.bisect_right(basic, offset - _ITEM_HEADER - first_item) - 1].append(index)
            return grouped if all(grouped) else None
        if len(offsets) == self.frames:
            return [[index] for index in range(len(offsets))]
        return None


@dataclass(frozen=True)
class WorkUnit:
    """Frames ``frame_start`` to ``frame_end - 1`` (0-based) of one instance: one ``transcode_frames`` call."""

    instance: PendingInstance
    frame_start: int
    frame_end: int

    @property
    def pixel_bytes(self) -> int:
        """Return the decoded pixel bytes of the unit's frames."""
        return (self.frame_end - self.frame_start) * self.instance.frame_pixel_bytes

    def source_slice(self) -> SourceSlice | None:
        """Return the byte ranges of the file this unit needs, or None when it needs the whole file.

        Whole files are read for deflated data sets (offsets count in the inflated stream),
        bit-packed or subsampled native pixel data, big-endian frames of an odd number of bytes,
        and encapsulated frames whose fragments cannot be told apart (several frames, no Basic
        Offset Table, fragments not one per frame). The last frame's slice keeps the value's padding.

        Examples
        --------
        >>> ct = PendingInstance("1", "1", "1", "f", "h", number_of_frames=4, rows=2, columns=2,
        ...                      samples_per_pixel=1, bits_allocated=16, pixel_data_length=32,
        ...                      pixel_data_encapsulated=False, transfer_syntax_uid="1.2.840.10008.1.2.1",
        ...                      pixel_data_offset=500)
        >>> WorkUnit(ct, 2, 4).source_slice()
        SourceSlice(header_length=500, start=516, end=532, fragments=())
        """
        inst = self.instance
        if (inst.pixel_data_offset is None or inst.pixel_data_length is None or inst.pixel_data_in_inflated_stream
                or inst.transfer_syntax_uid is None or inst.pixel_data_offset <= _ELEMENT_HEADER):
            return None  # offsets that do not count in the file, or no data set before the pixel data
        header = inst.pixel_data_offset
        if not inst.pixel_data_encapsulated:
            if (inst.transfer_syntax_uid not in UncompressedTransferSyntaxes or not inst.rows or not inst.columns
                    or not inst.bits_allocated or inst.bits_allocated % 8
                    or inst.photometric_interpretation == "YBR_FULL_422"):
                return None
            if inst.transfer_syntax_uid == ExplicitVRBigEndian and inst.frame_pixel_bytes % 2:
                return None  # OW words would be swapped across the cut
            start = inst.pixel_data_offset + self.frame_start * inst.frame_pixel_bytes
            end = inst.pixel_data_offset + self.frame_end * inst.frame_pixel_bytes
            value_end = inst.pixel_data_offset + inst.pixel_data_length
            if end > value_end:
                return None
            return SourceSlice(header, start, value_end if self.frame_end == inst.frames else end)
        grouped = inst.frame_fragments()
        offsets, lengths = inst.pixel_data_fragment_offsets or [], inst.pixel_data_fragment_lengths or []
        if grouped is None or len(grouped) != inst.frames or len(lengths) != len(offsets):
            return None
        wanted = [(frame - self.frame_start, index) for frame in range(self.frame_start, self.frame_end)
                  for index in grouped[frame]]
        start = offsets[wanted[0][1]]
        end = offsets[wanted[-1][1]] + lengths[wanted[-1][1]]
        fragments = tuple((frame, offsets[index] - start, lengths[index]) for frame, index in wanted)
        return SourceSlice(header, start, end, fragments)

    def as_row(self) -> dict[str, Any]:
        """Return the unit as a flat row: identity, frame range, pixel bytes and the byte ranges to read.

        ``header_length`` is null when the unit needs its whole source file.
        """
        instance = asdict(self.instance)
        identity = {name: instance[name] for name in (
            "sop_instance_uid", "study_instance_uid", "series_instance_uid", "source_uri", "content_hash",
            "image_set_id")}
        byte_range = self.source_slice()
        return {**identity, "frame_start": self.frame_start, "frame_end": self.frame_end,
                "pixel_bytes": self.pixel_bytes,
                "header_length": byte_range.header_length if byte_range else None,
                "slice_start": byte_range.start if byte_range else None,
                "slice_end": byte_range.end if byte_range else None,
                "fragments": [list(f) for f in byte_range.fragments] if byte_range else None}


def plan_work_units(instances: Iterable[PendingInstance], max_task_pixel_bytes: int) -> list[WorkUnit]:
    """Cut each instance into groups of consecutive frames of at most ``max_task_pixel_bytes``.

    A frame larger than the limit is a unit on its own.

    Parameters
    ----------
    instances
        The instances to transcode.
    max_task_pixel_bytes
        The most decoded pixel bytes one unit may hold.

    Returns
    -------
    list of WorkUnit
        In instance order, frames ascending.

    Raises
    ------
    ValueError
        If ``max_task_pixel_bytes`` is not positive.

    Examples
    --------
    >>> ct = PendingInstance("1.2", "1", "1.1", "file:/a.dcm", "0" * 64, number_of_frames=1000,
    ...                      rows=512, columns=512, samples_per_pixel=1, bits_allocated=16)
    >>> units = plan_work_units([ct], 64 << 20)
    >>> len(units), units[0].frame_end, units[-1].frame_start, units[-1].frame_end
    (8, 128, 896, 1000)
    """
    if max_task_pixel_bytes < 1:
        raise ValueError(f"'max_task_pixel_bytes' must be positive, not {max_task_pixel_bytes}")
    units = []
    for instance in instances:
        per_unit = max(1, max_task_pixel_bytes // instance.frame_pixel_bytes)
        for start in range(0, instance.frames, per_unit):
            units.append(WorkUnit(instance, start, min(start + per_unit, instance.frames)))
    return units


def task_count(units: Sequence[WorkUnit], max_task_pixel_bytes: int, parallelism: int) -> int:
    """Return how many tasks to run: enough for the pixel bound, a multiple of the cores, at most one per unit.

    Examples
    --------
    >>> unit = WorkUnit(PendingInstance("1", "1", "1", "f", "h", rows=10, columns=10), 0, 1)
    >>> task_count([unit] * 7, 250, 2), task_count([unit] * 3, 10_000, 2), task_count([], 1, 2)
    (4, 2, 0)
    """
    if not units:
        return 0
    total = sum(unit.pixel_bytes for unit in units)
    needed = max(1, math.ceil(total / max_task_pixel_bytes))
    cores = max(1, parallelism)
    return min(len(units), math.ceil(needed / cores) * cores)


def assign_tasks(units: Sequence[WorkUnit], tasks: int) -> list[int]:
    """Assign each unit a task in ``range(tasks)``, balancing decoded pixel bytes (largest first, least loaded).

    Examples
    --------
    >>> inst = PendingInstance("1", "1", "1", "f", "h", number_of_frames=6, rows=1, columns=1)
    >>> units = [WorkUnit(inst, 0, 4), WorkUnit(inst, 4, 5), WorkUnit(inst, 5, 6), WorkUnit(inst, 0, 2)]
    >>> assign_tasks(units, 2)
    [0, 1, 1, 1]
    """
    if tasks < 1:
        raise ValueError(f"'tasks' must be at least 1, not {tasks}")
    loads = [(0, task) for task in range(tasks)]
    assigned = [0] * len(units)
    for index in sorted(range(len(units)), key=lambda i: (-units[i].pixel_bytes, i)):
        load, task = heapq.heappop(loads)
        assigned[index] = task
        heapq.heappush(loads, (load + units[index].pixel_bytes, task))
    return assigned
