"""Planning on the driver: frame groups bounded by pixel bytes, tasks balanced by pixel bytes."""

from __future__ import annotations

import pytest

from medlake.dicom.frames.work_units import PendingInstance, WorkUnit, assign_tasks, plan_work_units, task_count

MIB = 1 << 20


def _instance(frames: int | None, rows: int | None = 512, columns: int | None = 512, samples: int | None = 1,
              bits: int | None = 16) -> PendingInstance:
    return PendingInstance("1.2.3", "1.2", "1.2.3.4", "file:/x.dcm", "0" * 64, number_of_frames=frames,
                           rows=rows, columns=columns, samples_per_pixel=samples, bits_allocated=bits)


# frames, rows, columns, samples, bits allocated, limit, expected (start, end) ranges
PLANS = [
    (1000, 512, 512, 1, 16, 64 * MIB, [(s, min(s + 128, 1000)) for s in range(0, 1000, 128)]),
    (None, 512, 512, 1, 16, 64 * MIB, [(0, 1)]),  # no Number of Frames: one frame
    (3, 4096, 4096, 3, 8, MIB, [(0, 1), (1, 2), (2, 3)]),  # a frame above the limit is a unit on its own
    (10, 100, 100, 3, 8, 60_000, [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]),
    (4, 10, 10, 1, 32, 1200, [(0, 3), (3, 4)]),
    (2, None, None, None, None, 1, [(0, 1), (1, 2)]),  # unusable attributes: still planned, quarantined later
]


@pytest.mark.parametrize("frames, rows, columns, samples, bits, limit, expected", PLANS)
def test_plan_work_units(frames: int | None, rows: int | None, columns: int | None, samples: int | None,
                         bits: int | None, limit: int, expected: list[tuple[int, int]]) -> None:
    units = plan_work_units([_instance(frames, rows, columns, samples, bits)], limit)
    assert [(u.frame_start, u.frame_end) for u in units] == expected
    assert all(u.pixel_bytes <= max(limit, u.instance.frame_pixel_bytes) for u in units)


def test_plan_rejects_a_non_positive_limit() -> None:
    with pytest.raises(ValueError, match="'max_task_pixel_bytes' must be positive"):
        plan_work_units([_instance(1)], 0)


def test_a_1000_frame_instance_spreads_over_balanced_tasks() -> None:
    units = plan_work_units([_instance(1000), _instance(7, 256, 256), _instance(1, 2048, 2048)], 64 * MIB)
    tasks = task_count(units, 64 * MIB, parallelism=2)
    assigned = assign_tasks(units, tasks)
    loads = [sum(u.pixel_bytes for u, t in zip(units, assigned) if t == task) for task in range(tasks)]
    assert tasks == 8 and len(set(assigned)) == tasks
    assert max(loads) <= 64 * MIB
    assert max(loads) - min(loads) <= max(u.pixel_bytes for u in units)


@pytest.mark.parametrize("units, limit, cores, expected", [
    (0, MIB, 2, 0), (1, MIB, 2, 1), (5, 1, 2, 5), (9, 10 * MIB, 4, 4),
])
def test_task_count(units: int, limit: int, cores: int, expected: int) -> None:
    unit = WorkUnit(_instance(1, 64, 64), 0, 1)
    assert task_count([unit] * units, limit, cores) == expected
