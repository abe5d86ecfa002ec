"""The pure round-trip comparison, against hand-written pairs of original and typed JSON."""

from __future__ import annotations

import pytest

from medlake.fhir.roundtrip import first_difference

EXTENSION = frozenset({("extension",), ("name", "_given", "extension")})

# (original JSON, typed JSON as Spark's to_json writes it, expected first difference)
CASES = [
    ('{"resourceType":"Patient","id":"a"}', '{"id":"a","resourceType":"Patient"}', None),
    ('{"valueDecimal":1.50}', '{"valueDecimal":1.5000000000000000000}', None),
    ('{"valueDecimal":0.1234567890123456789}', '{"valueDecimal":0.12345678901234568}', "Patient.valueDecimal"),
    ('{"valueDecimal":0}', '{"valueDecimal":0E-19}', None),
    ('{"valueInteger":-2147483648}', '{"valueInteger":-2147483648}', None),
    ('{"active":true}', '{"active":1}', "Patient.active"),
    ('{"valueString":"1.5"}', '{"valueString":1.5}', "Patient.valueString"),
    ('{"birthDate":"2015-05"}', '{"birthDate":"2015-05-01"}', "Patient.birthDate"),
    ('{"foo":{"bar":1}}', '{}', "Patient.foo"),
    ('{"name":[{"family":"x","foo":"y"}]}', '{"name":[{"family":"x"}]}', "Patient.name.foo"),
    ('{"name":[{"family":"x"}]}', '{"name":[{"family":"x","given":["y"]}]}', "Patient.name.given"),
    ('{"id":"a","meta":null}', '{"id":"a"}', None),
    ('{"name":[{"given":["a",null],"_given":[null,{"id":"g"}]}]}',
     '{"name":[{"given":["a",null],"_given":[null,{"id":"g"}]}]}', None),
    ('{"name":[{"given":["a",null],"_given":[null,{"id":"g"}]}]}',
     '{"name":[{"given":["a"],"_given":[null,{"id":"g"}]}]}', "Patient.name.given"),
    ('{"extension":[{"url":"u","valueDecimal":1.50}]}', '{"extension":["{\\"url\\":\\"u\\",\\"valueDecimal\\":1.5}"]}', None),
    ('{"extension":[{"valueDecimal":1.50,"url":"u"}]}', '{"extension":["{\\"url\\":\\"u\\",\\"valueDecimal\\":1.51}"]}',
     "Patient.extension.valueDecimal"),
    ('{"extension":[{"url":"u"}]}', '{"extension":["not json"]}', "Patient.extension"),
    ('{"name":[{"_given":[{"extension":[{"url":"u","extension":[{"url":"v","valueInteger":2}]}]}]}]}',
     '{"name":[{"_given":[{"extension":["{\\"url\\":\\"u\\",\\"extension\\":[{\\"url\\":\\"v\\",\\"valueInteger\\":2}]}"]}]}]}',
     None),
    ('{"name":[{"_given":[{"extension":[{"url":"u","extension":[{"url":"v","valueInteger":2}]}]}]}]}',
     '{"name":[{"_given":[{"extension":["{\\"url\\":\\"u\\",\\"extension\\":[{\\"url\\":\\"v\\"}]}"]}]}]}',
     "Patient.name._given.extension.extension.valueInteger"),
    ('[{"resourceType":"Patient"}]', '{"resourceType":"Patient"}', "Patient"),
    ('{"resourceType":"Patient"', '{}', "Patient"),
    ('{"resourceType":"Patient"}', None, "Patient"),
]


@pytest.mark.parametrize("original, typed, expected", CASES)
def test_first_difference(original: str, typed: str | None, expected: str | None) -> None:
    assert first_difference(original, typed, EXTENSION, "Patient") == expected


def test_json_text_is_only_parsed_where_the_schema_says() -> None:
    original = '{"note":[{"text":"{\\"a\\":1}"}]}'
    assert first_difference(original, original, frozenset(), "Patient") is None
    assert first_difference(original, original, frozenset({("note", "text")}), "Patient") == "Patient.note.text"
