import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s6nf.agent.dso.wire import (
    Kind,
    MalformedFrame,
    Message,
    decode_entries,
    decode_frame,
    encode_entries,
    encode_frame,
    encode_message,
    first_req_ids,
)

messages = st.builds(
    Message,
    st.sampled_from(list(Kind)),
    st.integers(0, 255),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, (1 << 64) - 1),
    st.binary(max_size=40),
    st.binary(max_size=200),
)


@settings(max_examples=80)
@given(st.lists(messages, max_size=20))
def test_frames_round_trip(msgs):
    frame = encode_frame([encode_message(*m) for m in msgs])
    assert decode_frame(frame) == msgs


@settings(max_examples=80)
@given(st.lists(messages, min_size=1, max_size=5), st.data())
def test_any_truncation_is_refused_not_crashed(msgs, data):
    frame = encode_frame([encode_message(*m) for m in msgs])
    cut = data.draw(st.integers(0, len(frame) - 1))
    with pytest.raises(MalformedFrame):
        decode_frame(frame[:cut])


@settings(max_examples=200)
@given(st.binary(max_size=100))
def test_random_bytes_never_raise_anything_but_malformed(junk):
    with contextlib.suppress(MalformedFrame):
        decode_frame(junk)
    first_req_ids(junk)


@pytest.mark.parametrize(
    ("frame", "needle"),
    [
        (b"\x00", "shorter"),
        (struct.pack("!HBH", 0x1234, 1, 0), "magic 0x1234"),
        (struct.pack("!HBH", 0x5336, 9, 0), "version 9"),
        (struct.pack("!HBH", 0x5336, 1, 0) + b"x", "1 trailing"),
        (encode_frame([encode_message(99, 0, 0, 0, 0, 1, b"", b"")]), "unknown kind 99"),
        (encode_frame([encode_message(5, 0, 0, 0, 0, 1, b"k" * 2000, b"")]), "key length 2000"),
    ],
)
def test_malformed_frames_name_the_offending_value(frame, needle):
    with pytest.raises(MalformedFrame, match=needle):
        decode_frame(frame)


def test_request_ids_of_a_broken_frame_are_recovered_for_error_replies():
    good = encode_message(Kind.CALL, 0, 1, 0, 0, 42, b"k", b"")
    frame = encode_frame([good, encode_message(Kind.CALL, 0, 1, 0, 0, 43, b"k", b"body")])
    assert first_req_ids(frame[:-2]) == [42, 43]


@settings(max_examples=50)
@given(st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=50)), max_size=20))
def test_push_entries_round_trip_and_truncation_is_refused(entries):
    body = encode_entries(entries)
    assert decode_entries(body) == entries
    if body:
        with pytest.raises(MalformedFrame):
            decode_entries(body[:-1])
