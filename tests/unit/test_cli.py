import pytest

from s6nf.cli import build_parser, main


def test_parser_knows_the_testbed_commands():
    args = build_parser().parse_args(["testbed", "up", "--instances", "3", "--name", "tb"])
    assert (args.command, args.action, args.instances, args.name) == ("testbed", "up", 3, "tb")
    assert args.reflect is None


@pytest.mark.parametrize(("flag", "reflect"), [("--reflect", True), ("--no-reflect", False)])
def test_up_takes_reflect_on_or_off(flag, reflect):
    assert build_parser().parse_args(["testbed", "up", flag]).reflect is reflect


def test_status_of_a_testbed_that_is_not_up_is_a_clear_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("s6nf.testbed.testbed.STATE_DIR", tmp_path)
    assert main(["testbed", "status", "--name", "nosuch"]) == 1
    assert "testbed 'nosuch' is not up" in capsys.readouterr().err


def test_traffic_refuses_zero_flows(capsys, tmp_path):
    assert main(["traffic", "--flows", "0", "--out", str(tmp_path / "x.pcap")]) == 1
    assert "at least one flow" in capsys.readouterr().err


def test_workload_writes_a_pcap(capsys, tmp_path):
    out = tmp_path / "w.pcap"
    assert main(["workload", "--flows", "20", "--concurrency", "4", "--size", "lognormal:8:1",
                 "--out", str(out)]) == 0
    assert "of 20 flows" in capsys.readouterr().out and out.stat().st_size > 24


@pytest.mark.parametrize("size, match", [("pareto", "KIND:MEAN"), ("pareto:x", "numbers"),
                                         ("zipf:1", "zipf")])
def test_workload_refuses_bad_distributions(capsys, tmp_path, size, match):
    assert main(["workload", "--size", size, "--out", str(tmp_path / "w.pcap")]) == 1
    assert match in capsys.readouterr().err


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit):
        main(["nosuch"])


@pytest.mark.parametrize("text, match", [("off,nope", "unknown setting(s) nope"),
                                         ("off,off", "given twice"), (",", "unknown")])
def test_bench_refuses_bad_replication_settings_before_running_anything(capsys, text, match):
    assert main(["bench", "--replication", text, "--out", "/nonexistent/never"]) == 1
    assert match in capsys.readouterr().err
