import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from s6nf.agent.p4rt.codec import decode, encode
from s6nf.agent.p4rt.errors import P4RuntimeError


@given(st.integers(1, 64).flatmap(lambda w: st.tuples(st.just(w), st.integers(0, (1 << w) - 1))))
def test_canonical_and_padded_forms_decode_to_the_value(width_value):
    width, value = width_value
    assert decode(encode(value), width, "f") == value
    padded = value.to_bytes((width + 7) // 8, "big")
    assert decode(padded, width, "f") == value
    assert encode(value) == padded.lstrip(b"\x00") or encode(value) == b"\x00"


@pytest.mark.parametrize(("data", "width", "words"), [
    (b"", 8, "empty"),
    (b"\x00\x00\x01", 16, "3 bytes"),
    (b"\x02\x00", 9, "0x200 does not fit in 9 bits"),
])
def test_bad_values_are_invalid_arguments(data, width, words):
    with pytest.raises(P4RuntimeError) as error:
        decode(data, width, "t.f")
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert words in error.value.message
    assert "t.f" in error.value.message
