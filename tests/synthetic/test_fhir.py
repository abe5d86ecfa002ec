import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from medlake.synthetic.roster import MRN_SYSTEM, RosterPatient

Resources = dict[str, list[dict[str, Any]]]

EXPECTED_TYPES = ["Condition", "Encounter", "ImagingStudy", "Immunization", "MedicationRequest", "Observation",
                  "Organization", "Patient", "Practitioner", "Procedure", "QuestionnaireResponse"]


def test_one_file_per_resource_type(generated: Path, resources: Resources) -> None:
    assert sorted(resources) == EXPECTED_TYPES
    assert all(r["resourceType"] == name for name, items in resources.items() for r in items)
    counts = json.loads((generated / "expected" / "fhir.json").read_text())
    assert counts == {name: len(items) for name, items in resources.items()}


@pytest.mark.parametrize("resource_type", EXPECTED_TYPES)
def test_every_resource_validates_against_r4b(resources: Resources, resource_type: str) -> None:
    model = get_fhir_model_class(resource_type)
    for resource in resources[resource_type]:
        model.model_validate(resource)


def test_patients_match_the_roster(resources: Resources, roster: tuple[RosterPatient, ...]) -> None:
    assert [p["id"] for p in resources["Patient"]] == [p.id for p in roster]
    for patient, person in zip(resources["Patient"], roster, strict=True):
        mrn = [i["value"] for i in patient["identifier"] if i.get("system") == MRN_SYSTEM]
        assert mrn == [person.mrn]
        assert patient["birthDate"] == person.birth_date.isoformat()
        assert patient["name"][0]["family"] == person.name.alphabetic.family


@pytest.mark.parametrize("position, url, value_key", [
    (0, "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race", "extension"),
    (1, "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity", "extension"),
    (2, "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName", "valueString"),
    (3, "http://hl7.org/fhir/StructureDefinition/patient-birthPlace", "valueAddress"),
])
def test_patient_extensions_sit_where_synthea_puts_them(resources: Resources, position: int, url: str,
                                                        value_key: str) -> None:
    for patient in resources["Patient"]:
        assert patient["extension"][position]["url"] == url
        assert value_key in patient["extension"][position]


def _depth(items: list[dict[str, Any]]) -> int:
    return 1 + max((_depth(i["item"]) for i in items if "item" in i), default=0)


def _observations_by_code(resources: Resources, code: str) -> list[dict[str, Any]]:
    return [o for o in resources["Observation"] if o["code"]["coding"][0]["code"] == code]


# (what, predicate over all resources): each feature the loaders must cope with is present.
FEATURES = [
    ("primitive extension _birthDate", lambda r: any("_birthDate" in p for p in r["Patient"])),
    ("contained Medication", lambda r: any(m.get("contained") and m["medicationReference"]["reference"] == "#med"
                                           for m in r["MedicationRequest"])),
    ("modifierExtension", lambda r: any("modifierExtension" in p for p in r["Procedure"])),
    ("partial date", lambda r: any(len(c["onsetDateTime"]) == 7 for c in r["Condition"])),
    ("Japanese ideographic name", lambda r: any(n.get("family") == "佐藤" or any(
        "\u4e00" <= ch <= "\u9fff" for ch in n.get("family", "")) for p in r["Patient"] for n in p["name"])),
    ("Japanese address", lambda r: any(a["country"] == "JP" and a["state"].endswith(("都", "府", "道", "県"))
                                       for p in r["Patient"] for a in p["address"])),
    ("Korean phonetic name", lambda r: any(any("\uac00" <= ch <= "\ud7a3" for ch in n.get("family", ""))
                                           for p in r["Patient"] for n in p["name"])),
    ("QuestionnaireResponse deeper than 3", lambda r: all(_depth(q["item"]) >= 5 for q in r["QuestionnaireResponse"])),
    ("integer maximum", lambda r: any(o.get("valueInteger") == 2147483647 for o in r["Observation"])),
    ("integer minimum", lambda r: any(o.get("valueInteger") == -2147483648 for o in r["Observation"])),
    ("blood pressure components", lambda r: all(
        [c["code"]["coding"][0]["code"] for c in o["component"]] == ["8480-6", "8462-4"]
        for o in _observations_by_code(r, "85354-9")) and _observations_by_code(r, "85354-9")),
    ("meta on every resource", lambda r: all(x["meta"]["versionId"] == "1" and x["meta"]["lastUpdated"].endswith("Z")
                                             for items in r.values() for x in items)),
    ("SNOMED conditions", lambda r: all(c["code"]["coding"][0]["system"] == "http://snomed.info/sct"
                                        for c in r["Condition"])),
]


@pytest.mark.parametrize("feature, present", FEATURES, ids=[f for f, _ in FEATURES])
def test_feature_is_present(resources: Resources, feature: str, present: Any) -> None:
    assert present(resources)


def test_decimals_keep_their_digits_in_the_text(generated: Path) -> None:
    patients = (generated / "fhir" / "Patient.ndjson").read_text(encoding="utf-8")
    observations = (generated / "fhir" / "Observation.ndjson").read_text(encoding="utf-8")
    assert '"valueDecimal":0.12345678901234567890123}' in patients.splitlines()[0]
    assert '"value":1.50,' in observations
    first_patient = json.loads(patients.splitlines()[0], parse_float=Decimal)
    assert first_patient["extension"][5]["valueDecimal"] == Decimal("0.12345678901234567890123")


def test_references_point_at_written_resources(resources: Resources) -> None:
    ids = {f"{t}/{r['id']}" for t, items in resources.items() for r in items}
    references = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("reference"), str) and not node["reference"].startswith("#"):
                references.append(node["reference"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(resources)
    assert len(references) > 100
    assert set(references) <= ids
