"""The codec that carries values between interpreters (marshal fast path, pickle fallback)."""

from __future__ import annotations

import datetime
from array import array

import pytest
from walle.vm import codec


@pytest.mark.parametrize(
    "value",
    [
        None,
        {"a": [1, 2.5, "x", b"y", None, True], "b": (1, (2, 3)), "c": {1: {"d": frozenset({1, 2})}}},
        [..., [...], {"e": ...}],  # real Ellipsis values are not mistaken for buffers
        list(range(1000)),
        {1 + 2j, "s"},
    ],
)
def test_plain_values_take_the_fast_path(value: object) -> None:
    data = codec.dumps(value)
    assert data[:1] == b"M"
    assert codec.loads(data, use_numpy=False) == value


def test_buffers_keep_format_and_shape_among_ellipses() -> None:
    grid = memoryview(array("f", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])).cast("B").cast("f", [2, 3])
    value = {"x": grid, "e": ..., "nested": [(..., memoryview(b"\x01\x02"))], "k": 3}
    data = codec.dumps(value)
    assert data[:1] == b"M"
    back = codec.loads(data, use_numpy=False)
    assert back["x"].shape == (2, 3) and back["x"].format == "f"
    assert back["x"].tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert back["e"] is ... and back["nested"][0][0] is ...
    assert back["nested"][0][1].tobytes() == b"\x01\x02" and back["k"] == 3


def test_other_values_fall_back_to_pickle() -> None:
    when = datetime.datetime(2024, 5, 1, 12, 0)  # TOML datetimes can appear in a manifest
    value = {"when": when, "raw": bytearray(b"ab"), "t": memoryview(array("i", [7, 8]))}
    data = codec.dumps(value)
    assert data[:1] == b"P"
    back = codec.loads(data, use_numpy=False)
    assert back["when"] == when and back["raw"] == bytearray(b"ab")
    assert back["t"].tolist() == [7, 8]


def test_numpy_arrays_round_trip_as_arrays() -> None:
    np = pytest.importorskip("numpy")
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    back = codec.loads(codec.dumps({"x": x, "s": np.float64(2.5)}), use_numpy=True)
    np.testing.assert_array_equal(back["x"], x)
    assert back["x"].dtype == np.float32 and float(back["s"]) == 2.5


def test_unknown_tag_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown format tag"):
        codec.loads(b"Zxx")
