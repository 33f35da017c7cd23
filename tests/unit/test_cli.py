import pytest

from s6nf.cli import build_parser, main


def test_parser_knows_the_testbed_commands():
    args = build_parser().parse_args(["testbed", "up", "--instances", "3", "--name", "tb"])
    assert (args.command, args.action, args.instances, args.name) == ("testbed", "up", 3, "tb")


def test_status_of_a_testbed_that_is_not_up_is_a_clear_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("s6nf.testbed.testbed.STATE_DIR", tmp_path)
    assert main(["testbed", "status", "--name", "nosuch"]) == 1
    assert "testbed 'nosuch' is not up" in capsys.readouterr().err


def test_traffic_refuses_zero_flows(capsys, tmp_path):
    assert main(["traffic", "--flows", "0", "--out", str(tmp_path / "x.pcap")]) == 1
    assert "at least one flow" in capsys.readouterr().err


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit):
        main(["nosuch"])
