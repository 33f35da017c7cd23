import pytest

from s6nf.controller import core, persist
from s6nf.controller.model import ControllerState
from tests.unit.controller.test_core import cluster


def test_state_round_trips_and_members_count_as_just_seen(tmp_path):
    state = cluster(3)
    state = ControllerState(core.plan_scale(state, [0, 2], 32).next, state.members)
    path = tmp_path / "s" / "state.json"
    persist.save(state, path)
    back = persist.load(path, now=42.0)
    assert back.key_space == state.key_space
    assert {i: m.steer for i, m in back.members.items()} == \
        {i: m.steer for i, m in state.members.items()}
    assert {m.last_seen for m in back.members.values()} == {42.0}
    assert not path.with_suffix(".json.tmp").exists()


def test_no_file_is_an_empty_state(tmp_path):
    assert persist.load(tmp_path / "none.json", 0.0) == ControllerState()


@pytest.mark.parametrize("text", ["{", '{"format": 9}', '{"format": 1, "key_space": null}',
                                  '{"format": 1, "key_space": {"epoch": 1, "owners": [0, 1, 2]},'
                                  ' "members": []}'])
def test_unreadable_state_is_refused_with_what_to_do(tmp_path, text):
    path = tmp_path / "state.json"
    path.write_text(text)
    with pytest.raises(ValueError, match="move it away"):
        persist.load(path, 0.0)
