"""Work units of the HTJ2K job: instances cut into groups of consecutive frames, packed into balanced tasks.

Planned on the driver from ``dicom.instance`` metadata alone (rows x columns x samples x bytes per
sample x frames), so a 1 000-frame instance spreads over many tasks and no task holds more than
``dicom.max_task_pixel_bytes`` of decoded pixels at once.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["PendingInstance", "WorkUnit", "assign_tasks", "plan_work_units", "task_count"]


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

    def as_row(self) -> dict[str, Any]:
        """Return the unit as a flat row (instance fields, frame range, pixel bytes)."""
        return {**asdict(self.instance), "frame_start": self.frame_start, "frame_end": self.frame_end,
                "pixel_bytes": self.pixel_bytes}


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
