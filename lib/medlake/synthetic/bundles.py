"""Synthea-style FHIR Bundles, and a scenario of versions and deletes for one patient.

- :func:`transaction_bundle`: one transaction Bundle per roster patient, as Synthea writes them.
  Every entry's ``fullUrl`` is ``urn:uuid:<id>`` (the same id as in the NDJSON output) and
  references between entries use those fullUrls; references to Practitioners and Organizations are
  conditional (``Practitioner?identifier=<NPI system>|<NPI>``), resolved through
  :func:`shared_bundle`. The Patient is a ``PUT Patient/<id>``, every other entry a ``POST``;
  Immunization entries carry no ``id``, so an ingest derives it from the fullUrl (deriving the
  uuid itself gives the NDJSON id back).
- :func:`version_steps`: files to ingest one run after another, after the NDJSON output: a
  batch Bundle mixing PUT, POST and DELETE, an older version arriving after a delete, versions
  ``"9"`` and ``"10"`` at the same ``lastUpdated``, versions whose ``lastUpdated`` order differs as
  text and as instants, and a newer version after a delete. Each step lists the state the lake
  must then show. A DELETE takes effect at its Bundle's ``timestamp``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from medlake.synthetic.fhir import Resource, patient_resources, shared_resources
from medlake.synthetic.jsontext import dumps_json
from medlake.synthetic.roster import RosterPatient, derive_uuid

__all__ = [
    "ResourceState",
    "VersionStep",
    "iter_transaction_bundles",
    "shared_bundle",
    "transaction_bundle",
    "version_steps",
]


@lru_cache(maxsize=8)
def _conditional_references(seed: int) -> dict[str, str]:
    """Map ``Practitioner/<id>`` and ``Organization/<id>`` to their conditional references."""
    references = {}
    for resource in shared_resources(seed):
        identifier = resource["identifier"][0]
        key = f"{resource['resourceType']}/{resource['id']}"
        references[key] = f"{resource['resourceType']}?identifier={identifier['system']}|{identifier['value']}"
    return references


def _rewrite_references(node: Any, local: set[str], conditional: dict[str, str]) -> None:
    """Point references at ``urn:uuid:`` fullUrls (entries) or conditional references (shared)."""
    if isinstance(node, dict):
        reference = node.get("reference")
        if isinstance(reference, str):
            if reference in conditional:
                node["reference"] = conditional[reference]
            elif reference in local:
                node["reference"] = f"urn:uuid:{reference.split('/', 1)[1]}"
        for value in node.values():
            _rewrite_references(value, local, conditional)
    elif isinstance(node, list):
        for item in node:
            _rewrite_references(item, local, conditional)


def transaction_bundle(patient: RosterPatient, seed: int) -> Resource:
    """Return the patient's resources as one Synthea-style transaction Bundle.

    Examples
    --------
    >>> from medlake.synthetic.roster import roster_patient
    >>> bundle = transaction_bundle(roster_patient(0, seed=0), seed=0)
    >>> bundle["type"], bundle["entry"][0]["request"]["method"], bundle["entry"][1]["request"]["method"]
    ('transaction', 'PUT', 'POST')
    """
    resources = list(patient_resources(patient, seed))
    local = {f"{r['resourceType']}/{r['id']}" for r in resources}
    conditional = _conditional_references(seed)
    entries = []
    for resource in resources:
        resource_type, resource_id = resource["resourceType"], resource["id"]
        _rewrite_references(resource, local, conditional)
        if resource_type == "Patient":
            request = {"method": "PUT", "url": f"Patient/{resource_id}"}
        else:
            request = {"method": "POST", "url": resource_type}
        if resource_type == "Immunization":
            del resource["id"]
        entries.append({"fullUrl": f"urn:uuid:{resource_id}", "resource": resource, "request": request})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def shared_bundle(seed: int) -> Resource:
    """Return the Organizations and Practitioners as a batch Bundle of conditional creates.

    Examples
    --------
    >>> entry = shared_bundle(0)["entry"][0]
    >>> entry["request"]["ifNoneExist"].startswith("identifier=")
    True
    """
    entries = []
    for resource in shared_resources(seed):
        identifier = resource["identifier"][0]
        entries.append({
            "fullUrl": f"urn:uuid:{resource['id']}", "resource": resource,
            "request": {"method": "POST", "url": resource["resourceType"],
                        "ifNoneExist": f"identifier={identifier['system']}|{identifier['value']}"},
        })
    return {"resourceType": "Bundle", "type": "batch", "entry": entries}


@dataclass(frozen=True)
class ResourceState:
    """What the lake must show for one resource after a step."""

    live: bool
    version_id: str | None = None
    tombstone: bool = False


@dataclass(frozen=True)
class VersionStep:
    """One file to ingest in its own run, and the state the lake must show afterwards.

    ``expected`` is keyed by ``Type/id``; a POSTed entry without id is keyed by its fullUrl.
    """

    name: str
    text: str
    description: str
    expected: dict[str, ResourceState] = field(default_factory=dict)


def _version(resource: Resource, version_id: str, last_updated: str, **changes: Any) -> Resource:
    copy = {**resource, **changes}
    copy["meta"] = {**resource.get("meta", {}), "versionId": version_id, "lastUpdated": last_updated}
    return copy


def _ndjson(resources: list[Resource]) -> str:
    return "".join(dumps_json(r) + "\n" for r in resources)


def version_steps(patient: RosterPatient, seed: int) -> list[VersionStep]:
    """Return the versions-and-deletes scenario for ``patient``, to apply after its NDJSON.

    Parameters
    ----------
    patient
        Whose Patient and first two Observations the scenario changes (roster patient 0 in the
        command line's output).
    seed
        The seed the roster was built with.

    Returns
    -------
    list[VersionStep]
        In the order they must be ingested; ``expected`` accumulates over the steps.

    Examples
    --------
    >>> from medlake.synthetic.roster import roster_patient
    >>> steps = version_steps(roster_patient(0, seed=0), seed=0)
    >>> [s.name for s in steps]
    ['01-batch.json', '02-late-older.ndjson', '03-versions.ndjson', '04-newer-after-delete.ndjson']
    """
    resources = list(patient_resources(patient, seed))
    person = resources[0]
    first, second = [r for r in resources if r["resourceType"] == "Observation"][:2]
    rng = random.Random(f"medlake-synthetic:{seed}:versions:{patient.index}")
    posted_url = f"urn:uuid:{derive_uuid(rng)}"
    missing_id = derive_uuid(rng)
    patient_key = f"Patient/{person['id']}"
    first_key, second_key = f"Observation/{first['id']}", f"Observation/{second['id']}"
    missing_key = f"Observation/{missing_id}"
    posted = {key: value for key, value in first.items() if key != "id"}
    posted["meta"] = {"versionId": "1", "lastUpdated": "2025-02-01T00:00:00.000Z"}
    batch = {"resourceType": "Bundle", "type": "batch", "timestamp": "2025-02-01T00:00:00Z", "entry": [
        {"fullUrl": f"urn:uuid:{person['id']}",
         "resource": _version(person, "2", "2025-02-01T00:00:00.000Z", active=True),
         "request": {"method": "PUT", "url": patient_key}},
        {"fullUrl": posted_url, "resource": posted, "request": {"method": "POST", "url": "Observation"}},
        {"request": {"method": "DELETE", "url": first_key}},
        {"request": {"method": "DELETE", "url": missing_key}},
    ]}
    after_batch = {patient_key: ResourceState(True, "2"), posted_url: ResourceState(True, "1"),
                   first_key: ResourceState(False, tombstone=True), missing_key: ResourceState(False, tombstone=True)}
    after_late = dict(after_batch)
    after_versions = {**after_late, patient_key: ResourceState(True, "10"), second_key: ResourceState(True, "4")}
    after_newer = {**after_versions, first_key: ResourceState(True, "3")}
    return [
        VersionStep("01-batch.json", dumps_json(batch, indent=2) + "\n",
                    "Batch Bundle at 2025-02-01: PUT the Patient (version 2), POST an Observation without id, "
                    "DELETE an Observation, DELETE an Observation the lake never had", after_batch),
        VersionStep("02-late-older.ndjson", _ndjson([_version(first, "2", "2025-01-15T00:00:00.000Z")]),
                    "An older version (2025-01-15) of the deleted Observation: it stays deleted", after_late),
        VersionStep("03-versions.ndjson", _ndjson([
            _version(person, "10", "2025-03-01T00:00:00.000Z", active=True),
            _version(person, "9", "2025-03-01T00:00:00.000Z", active=False),
            _version(second, "4", "2025-03-01T02:00:00Z"),
            _version(second, "3", "2025-03-01T10:00:00+09:00"),
        ]), "Patient versions '10' then '9' at the same lastUpdated ('10' wins as a number); Observation "
            "version 4 at 02:00Z then version 3 at 10:00+09:00 (01:00Z: older as an instant, later as text "
            "and in position)", after_versions),
        VersionStep("04-newer-after-delete.ndjson", _ndjson([_version(first, "3", "2025-04-01T00:00:00.000Z")]),
                    "A newer version (2025-04-01) of the deleted Observation: it is live again", after_newer),
    ]


def iter_transaction_bundles(roster: Iterable[RosterPatient], seed: int) -> Iterator[tuple[str, str]]:
    """Yield ``(file name, JSON text)`` of each patient's transaction Bundle (named by patient id)."""
    for patient in roster:
        yield f"{patient.id}.json", dumps_json(transaction_bundle(patient, seed), indent=2) + "\n"

