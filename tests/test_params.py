"""ParamSpec parsing and validation: bad values get one line naming the value and what is allowed."""
import pytest

from bench.spec.params import BadInput, ParamSpec, parse_assignments, validate_params

LR = ParamSpec(name="lr", type="float", default=0.1, min=1e-6, max=10.0)
N = ParamSpec(name="n", type="int", default=5, min=2, max=10)
MODE = ParamSpec(name="mode", type="str", default="a", choices=("a", "b"))
FLAG = ParamSpec(name="flag", type="bool", default=False)


@pytest.mark.parametrize("spec,raw,value", [
    (LR, "0.5", 0.5), (LR, 1, 1.0), (N, "7", 7), (N, 7.0, 7), (N, "3.0", 3), (MODE, "b", "b"),
    (FLAG, "true", True), (FLAG, "0", False), (FLAG, True, True),
])
def test_parse_accepts(spec, raw, value):
    got = spec.parse(raw)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("spec,raw", [
    (LR, "nan"), (LR, "inf"), (LR, "abc"), (LR, -1), (LR, "1e9"), (LR, None), (LR, True),
    (N, "2.5"), (N, "x"), (N, 0), (N, 11), (N, "-3"), (MODE, "c"), (MODE, 3), (FLAG, "maybe"),
])
def test_parse_rejects_with_one_line(spec, raw):
    with pytest.raises(BadInput) as info:
        spec.parse(raw)
    msg = str(info.value)
    assert "\n" not in msg and spec.name in msg and ("expected" in msg)


def test_validate_fills_defaults_and_refuses_unknown():
    assert validate_params((LR, N), {"n": "4"}, owner="x") == {"lr": 0.1, "n": 4}
    with pytest.raises(BadInput, match="unknown parameter 'bogus' for x: allowed lr, n"):
        validate_params((LR, N), {"bogus": 1}, owner="x")


def test_parse_assignments():
    assert parse_assignments(["a=1", "b = x"]) == {"a": "1", "b": "x"}
    with pytest.raises(BadInput):
        parse_assignments(["novalue"])
