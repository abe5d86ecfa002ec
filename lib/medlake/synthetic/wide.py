"""The resource types a real Synthea export holds beyond the core set, for ``--wide`` data.

A Synthea bulk export spreads its records over 20 or more types: every encounter also has a Claim,
an ExplanationOfBenefit, a DiagnosticReport and a DocumentReference; patients have care plans,
care teams, goals, allergies, devices and supply deliveries, and a Provenance. A pipeline pays
per type, so the benchmark's wide set (:func:`wide_resources`) reproduces that spread.

The records come from their own random stream per patient, so the core resources of a patient
(:func:`medlake.synthetic.fhir.patient_resources`) are the same with or without them.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from medlake.synthetic.jsontext import exact_decimal
from medlake.synthetic.roster import RosterPatient, derive_uuid

__all__ = ["WIDE_TYPES", "wide_resources"]

Resource = dict[str, Any]

#: The types :func:`wide_resources` writes.
WIDE_TYPES = ("AllergyIntolerance", "CarePlan", "CareTeam", "Claim", "Device", "DiagnosticReport",
              "DocumentReference", "ExplanationOfBenefit", "Goal", "Location", "Provenance", "SupplyDelivery")

_SNOMED = "http://snomed.info/sct"
_LOINC = "http://loinc.org"
_ALLERGIES = (("300916003", "Latex allergy"), ("91935009", "Allergy to peanuts"),
              ("294505008", "Allergy to amoxicillin"))
_DEVICES = (("72506001", "Implantable defibrillator"), ("706180003", "Respiratory humidifier"))


def _concept(system: str, code: str, display: str) -> Resource:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _ref(resource_type: str, resource_id: str) -> Resource:
    return {"reference": f"{resource_type}/{resource_id}"}


def _money(rng: random.Random) -> Resource:
    return {"value": exact_decimal(f"{rng.uniform(20, 900):.2f}"), "currency": "USD"}


def _meta(moment: datetime) -> Resource:
    return {"versionId": "1", "lastUpdated": (moment + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")}


def _per_encounter(rng: random.Random, patient: Resource, encounter: Resource) -> Iterator[Resource]:
    start = encounter["period"]["start"]
    moment = datetime.fromisoformat(encounter["period"]["end"])
    claim_id = derive_uuid(rng)
    provider = encounter["serviceProvider"]
    item = {"sequence": 1, "productOrService": encounter["type"][0], "net": _money(rng)}
    yield {
        "resourceType": "Claim", "id": claim_id, "meta": _meta(moment), "status": "active",
        "type": _concept("http://terminology.hl7.org/CodeSystem/claim-type", "professional", "Professional"),
        "use": "claim", "patient": patient, "billablePeriod": encounter["period"], "created": start,
        "provider": provider, "priority": _concept("http://terminology.hl7.org/CodeSystem/processpriority",
                                                   "normal", "Normal"),
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "Medicare"}}],
        "item": [{**item, "encounter": [_ref("Encounter", encounter["id"])]}], "total": item["net"],
    }
    yield {
        "resourceType": "ExplanationOfBenefit", "id": derive_uuid(rng), "meta": _meta(moment),
        "status": "active", "type": _concept("http://terminology.hl7.org/CodeSystem/claim-type",
                                             "professional", "Professional"),
        "use": "claim", "patient": patient, "created": start, "insurer": {"display": "Medicare"},
        "provider": provider, "claim": _ref("Claim", claim_id), "outcome": "complete",
        "insurance": [{"focal": True, "coverage": {"display": "Medicare"}}],
        "item": [{**item, "adjudication": [{
            "category": _concept("http://terminology.hl7.org/CodeSystem/adjudication", "benefit", "Benefit"),
            "amount": _money(rng)}]}],
        "total": [{"category": _concept("http://terminology.hl7.org/CodeSystem/adjudication", "submitted",
                                        "Submitted Amount"), "amount": item["net"]}],
    }
    yield {
        "resourceType": "DiagnosticReport", "id": derive_uuid(rng), "meta": _meta(moment), "status": "final",
        "category": [_concept("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory")],
        "code": _concept(_LOINC, "51990-0", "Basic metabolic panel - Blood"), "subject": patient,
        "encounter": _ref("Encounter", encounter["id"]), "effectiveDateTime": start,
        "issued": moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    note = f"Encounter note, {rng.randint(1, 9999)}.".encode()
    yield {
        "resourceType": "DocumentReference", "id": derive_uuid(rng), "meta": _meta(moment), "status": "current",
        "type": _concept(_LOINC, "34117-2", "History and physical note"), "subject": patient,
        "date": moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8",
                                    "data": base64.b64encode(note).decode()}}],
        "context": {"encounter": [_ref("Encounter", encounter["id"])], "period": encounter["period"]},
    }


def _per_patient(rng: random.Random, patient: Resource, first: Resource) -> Iterator[Resource]:
    moment = datetime.fromisoformat(first["period"]["end"])
    start = first["period"]["start"]
    goal_id, team_id, location_id = derive_uuid(rng), derive_uuid(rng), derive_uuid(rng)
    yield {"resourceType": "Location", "id": location_id, "meta": _meta(moment), "status": "active",
           "name": "Outpatient clinic", "managingOrganization": first["serviceProvider"]}
    yield {"resourceType": "Goal", "id": goal_id, "meta": _meta(moment), "lifecycleStatus": "active",
           "description": {"text": "Maintain a healthy weight"}, "subject": patient}
    yield {"resourceType": "CareTeam", "id": team_id, "meta": _meta(moment), "status": "active",
           "subject": patient, "encounter": _ref("Encounter", first["id"]), "period": {"start": start},
           "participant": [{"member": first["participant"][0]["individual"]}]}
    yield {"resourceType": "CarePlan", "id": derive_uuid(rng), "meta": _meta(moment), "status": "active",
           "intent": "order", "category": [_concept(_SNOMED, "734163000", "Care plan")], "subject": patient,
           "period": {"start": start}, "careTeam": [_ref("CareTeam", team_id)], "goal": [_ref("Goal", goal_id)],
           "activity": [{"detail": {"status": "in-progress",
                                    "code": _concept(_SNOMED, "229065009", "Exercise therapy"),
                                    "location": _ref("Location", location_id)}}]}
    code, display = rng.choice(_ALLERGIES)
    yield {"resourceType": "AllergyIntolerance", "id": derive_uuid(rng), "meta": _meta(moment),
           "clinicalStatus": _concept("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                      "active", "Active"),
           "type": "allergy", "category": ["food"], "criticality": "low", "code": _concept(_SNOMED, code, display),
           "patient": patient, "recordedDate": start}
    code, display = rng.choice(_DEVICES)
    device_id = derive_uuid(rng)
    yield {"resourceType": "Device", "id": device_id, "meta": _meta(moment), "status": "active",
           "distinctIdentifier": str(rng.randint(10**9, 10**10)), "type": _concept(_SNOMED, code, display),
           "patient": patient}
    yield {"resourceType": "SupplyDelivery", "id": derive_uuid(rng), "meta": _meta(moment), "status": "completed",
           "patient": patient, "type": _concept("http://terminology.hl7.org/CodeSystem/supply-item-type",
                                                "device", "Device"),
           "suppliedItem": {"quantity": {"value": exact_decimal(str(rng.randint(1, 5)))},
                            "itemCodeableConcept": _concept(_SNOMED, code, display)},
           "occurrenceDateTime": start}
    yield {"resourceType": "Provenance", "id": derive_uuid(rng), "meta": _meta(moment),
           "target": [patient, _ref("Device", device_id)], "recorded": moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
           "agent": [{"who": first["participant"][0]["individual"],
                      "onBehalfOf": first["serviceProvider"]}]}


def wide_resources(patient: RosterPatient, seed: int, encounters: Sequence[Resource]) -> Iterator[Resource]:
    """Yield the patient's records of :data:`WIDE_TYPES`, for their ``encounters``."""
    if not encounters:
        return
    rng = random.Random(f"medlake-synthetic:{seed}:wide:{patient.index}")
    subject = _ref("Patient", patient.id)
    for encounter in encounters:
        yield from _per_encounter(rng, subject, encounter)
    yield from _per_patient(rng, subject, encounters[0])
