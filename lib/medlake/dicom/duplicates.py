"""Which file of a SOP Instance UID is kept, and how every other one differs from it (driver-side, no Spark).

The kept file is the one ``dicom.instance`` already holds (reread when its file changed), else the
run's smallest URI; so a rerun, or another order of inputs, keeps the same file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import groupby

__all__ = ["FileIdentity", "split_duplicates"]


@dataclass(frozen=True)
class FileIdentity:
    """What tells two files of one SOP Instance UID apart: where, which bytes, which transfer syntax, how big."""

    source_uri: str
    sop_instance_uid: str
    content_sha256: str | None
    transfer_syntax_uid: str | None
    file_size: int | None


def split_duplicates(loaded: Iterable[FileIdentity], in_table: Mapping[str, FileIdentity]
                     ) -> tuple[list[FileIdentity], dict[str, str]]:
    """Return the files to keep (one per SOP Instance UID) and, per duplicate URI, its detail.

    Parameters
    ----------
    loaded
        The run's loaded files.
    in_table
        What ``dicom.instance`` holds for their SOP Instance UIDs, keyed by UID.

    Examples
    --------
    >>> a = FileIdentity("file:/a.dcm", "1.2", "aa", "1.2.840.10008.1.2.1", 10)
    >>> b = FileIdentity("file:/b.dcm", "1.2", "aa", "1.2.840.10008.1.2.1", 10)
    >>> kept, duplicates = split_duplicates([b, a], {})
    >>> [f.source_uri for f in kept], duplicates
    (['file:/a.dcm'], {'file:/b.dcm': 'byte-identical to kept file:/a.dcm'})
    >>> split_duplicates([a], {"1.2": b})[1]
    {'file:/a.dcm': 'byte-identical to kept file:/b.dcm'}
    """
    kept: list[FileIdentity] = []
    duplicates: dict[str, str] = {}
    by_uid = sorted(loaded, key=lambda f: (f.sop_instance_uid, f.source_uri))
    for uid, group in groupby(by_uid, key=lambda f: f.sop_instance_uid):
        files = list(group)
        held = in_table.get(uid)
        if held is None or any(f.source_uri == held.source_uri for f in files):
            twin = files[0] if held is None else next(f for f in files if f.source_uri == held.source_uri)
            kept.append(twin)
        else:  # every file of the run is another file than the one the table holds
            twin = held
        duplicates.update((f.source_uri, _detail(f, twin)) for f in files if f is not twin)
    return kept, duplicates


def _detail(duplicate: FileIdentity, twin: FileIdentity) -> str:
    """Name the kept twin and what differs: nothing, the transfer syntax, or other bytes."""
    if duplicate.content_sha256 is not None and duplicate.content_sha256 == twin.content_sha256:
        return f"byte-identical to kept {twin.source_uri}"
    same_instance = f"same SOP Instance UID as kept {twin.source_uri}"
    if duplicate.transfer_syntax_uid != twin.transfer_syntax_uid:
        return (f"{same_instance}; transfer syntax {duplicate.transfer_syntax_uid or 'none'} "
                f"where the kept file has {twin.transfer_syntax_uid or 'none'}")
    return f"{same_instance}; other bytes ({duplicate.file_size} bytes where the kept file has {twin.file_size})"
