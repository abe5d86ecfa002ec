"""Walking local inputs on the driver: names as they are, links once and never outside, problems listed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medlake.listing import local_uri, walk_local


def _walk(root: Path) -> dict[str, str | None]:
    return {f.uri.removeprefix(local_uri(f"{root}/")): f.problem for f in walk_local(root)}


def test_links_are_followed_once_inside_and_never_outside(tmp_path: Path) -> None:
    inside, outside = tmp_path / "in", tmp_path / "out"
    (inside / "a").mkdir(parents=True)
    outside.mkdir()
    (inside / "a" / "x.ndjson").write_text("{}\n")
    (outside / "secret.ndjson").write_text("{}\n")
    (inside / "again").symlink_to(inside / "a", target_is_directory=True)  # the same real directory
    (inside / "escape").symlink_to(outside, target_is_directory=True)
    (inside / "escape.ndjson").symlink_to(outside / "secret.ndjson")
    (inside / "a" / "up").symlink_to(inside, target_is_directory=True)  # back to an ancestor
    assert _walk(inside) == {"a/x.ndjson": None, "a/up": "directory_cycle"}


def test_a_file_of_0_bytes_and_awkward_names_are_listed_as_they_are(tmp_path: Path) -> None:
    names = ["co:lon.dcm", "c{t,x}[1]*?.dcm", "100%#.dcm", "-dash é.dcm", "empty.dcm"]
    for name in names:
        (tmp_path / name).write_bytes(b"" if name == "empty.dcm" else b"x")
    listed = {f.uri: f for f in walk_local(tmp_path)}
    assert sorted(listed) == sorted(local_uri(str(tmp_path / name)) for name in names)
    empty = listed[local_uri(str(tmp_path / "empty.dcm"))]
    assert (empty.size, empty.problem) == (0, None)
    assert empty.modification_time.timestamp() == pytest.approx(os.stat(tmp_path / "empty.dcm").st_mtime)


def test_a_single_file_is_its_own_listing(tmp_path: Path) -> None:
    (tmp_path / "one.ndjson").write_text("{}\n")
    assert [f.uri for f in walk_local(tmp_path / "one.ndjson")] == [local_uri(str(tmp_path / "one.ndjson"))]
