import json
from decimal import Decimal

import pytest

from medlake.synthetic.jsontext import dumps_json, exact_decimal


@pytest.mark.parametrize("text", ["1.50", "0.12345678901234567890123", "-3", "1e-7", "120.0"])
def test_exact_decimal_keeps_the_digits(text: str) -> None:
    dumped = dumps_json({"v": [exact_decimal(text)], "s": "\u0000 stays a string"})
    assert dumped == '{"v":[' + text + '],"s":"\\u0000 stays a string"}'
    assert json.loads(dumped, parse_float=Decimal)["v"][0] == Decimal(text)


@pytest.mark.parametrize("text", ["1.", "01", "NaN", "1,5", ""])
def test_exact_decimal_rejects_non_numbers(text: str) -> None:
    with pytest.raises(ValueError, match="not a JSON number"):
        exact_decimal(text)
