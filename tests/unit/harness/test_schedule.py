import pytest

from s6nf.harness.schedule import Step, parse_schedule


def test_a_schedule_in_seconds_and_milliseconds():
    assert parse_schedule("1@0s, 2@5s,4@10.5s,2@15000ms") == [
        Step(0, 1), Step(5, 2), Step(10.5, 4), Step(15, 2)]


@pytest.mark.parametrize(("text", "message"), [
    ("2@1s", "start at 0s"), ("1@0s,2@x", "is not N@TIME"), ("0@0s", "at least one"),
    ("1@0s,2@5s,3@5s", "must increase"), ("", "is not N@TIME")])
def test_bad_schedules_name_the_step(text, message):
    with pytest.raises(ValueError, match=message):
        parse_schedule(text)
