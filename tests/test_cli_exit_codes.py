"""The command line: an unreachable or vanished broker, exit codes per failure class,
global flags after the verb, the log_level setting applied."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

import pytest

from edgestream.apps import cli
from edgestream_dev.procs import wait_until
from edgestream_dev.tansu import EmbeddedTansu, free_port


def edgestream(*args: str, env: dict[str, str] | None = None, timeout: float = 60
               ) -> tuple[int, str, float]:
    """Run the CLI in its own process: (exit code, stdout+stderr, seconds)."""
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "edgestream.apps.cli", *args], capture_output=True,
                          text=True, timeout=timeout,
                          env={**os.environ, "BLUESKY_KAFKA_CONFIG_PATH": "", **(env or {})})
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - t0


def test_unreachable_broker_is_one_line_per_try_and_exit_3():
    port = free_port()  # nobody listens there
    rc, out, took = edgestream("serve", "--bootstrap-servers", f"127.0.0.1:{port}",
                               "--duration", "6", "--log-level", "WARNING")
    assert rc == cli.EXIT_CONNECTION, out
    lines = out.strip().splitlines()
    assert "Traceback" not in out and "kafka.net" not in out, out
    # 3 s per probe, 1 s then 2 s between: two or three tries in 6 s, one line each
    assert 2 <= len(lines) <= 4, out
    assert all(f"cannot reach 127.0.0.1:{port} (PLAINTEXT)" in line for line in lines), out
    assert "ECONNREFUSED" in lines[-1] and "retrying in 1 s" in lines[0]
    assert lines[-1].startswith("edgestream: cannot reach")
    assert took < 15, took  # --duration cut the wait short


def test_connect_timeout_gives_up_and_watch_too():
    port = free_port()
    rc, out, took = edgestream("--log-level", "ERROR", "watch", "--bootstrap-servers",
                               f"127.0.0.1:{port}", "--connect-timeout", "1")
    assert rc == cli.EXIT_CONNECTION and took < 12, (rc, out, took)
    assert out.strip().splitlines() == [
        line for line in out.strip().splitlines() if "cannot reach" in line]


def test_broker_gone_mid_run_is_said_once_and_duration_is_honoured(tmp_path):
    cfg = tmp_path / "svc.yml"
    cfg.write_text("kafka: {session_timeout_ms: 6000, heartbeat_interval_ms: 1000}\n")
    broker = EmbeddedTansu(log_path=tmp_path / "tansu.log").start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgestream.apps.cli", "serve", "--config", str(cfg),
         "--bootstrap-servers", broker.bootstrap_servers, "--duration", "25",
         "--log-level", "INFO"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "BLUESKY_KAFKA_CONFIG_PATH": ""})
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        # started, subscribed: the group gave it its partitions (the log says so), at most 10 s
        wait_until(lambda: any("partitions assigned" in line for line in lines), 10,
                   "partition assignment", strict=False)
        broker.stop()
        proc.wait(timeout=60)
        reader.join(timeout=10)
        out = "".join(lines)
    finally:
        broker.stop()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-3000:]
    assert out.count("lost kafka") == 1, out[-3000:]
    kafka_lines = [line for line in out.splitlines() if " kafka." in line]
    # kafka-python's per-attempt reconnect errors (5-10 a second) are not shown
    assert not any("ECONNREFUSED" in line for line in kafka_lines), kafka_lines[:5]
    assert "Traceback" not in out, out[-3000:]


def test_configuration_error_is_exit_2_with_key_value_and_allowed():
    rc, out, _ = edgestream("config", env={"EDGESTREAM_ALIGN_ON_REFERENCE": "flase"})
    assert rc == cli.EXIT_CONFIG
    assert out.strip() == ("edgestream: configuration error: environment "
                           "EDGESTREAM_ALIGN_ON_REFERENCE='flase': expected true or false "
                           "(also yes/no, on/off, 1/0)")


def test_missing_kafka_yml_named_by_flag_is_a_configuration_error(tmp_path):
    rc, out, _ = edgestream("config", "--kafka-yml", str(tmp_path / "kafka.yml"))
    assert rc == cli.EXIT_CONFIG and "facility Kafka file not found" in out


def test_internal_error_is_exit_4_with_the_traceback(monkeypatch, capsys, caplog):
    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("edgestream.apps.cli.service.cmd_config", broken)
    assert cli.main(["config"]) == cli.EXIT_INTERNAL
    assert "internal error (a bug" in capsys.readouterr().err
    assert "ZeroDivisionError" in caplog.text and "Traceback" in caplog.text


def test_help_documents_the_exit_codes(capsys):
    for argv in (["--help"], ["serve", "--help"]):
        with pytest.raises(SystemExit):
            cli.main(argv)
        text = capsys.readouterr().out
        assert "exit codes:" in text and "3    connection error" in text
        assert "4    internal error" in text and "2    configuration error" in text


def test_global_flags_after_the_verb(monkeypatch, capsys):
    parser = cli.build_parser()
    before = parser.parse_args(["--log-level", "debug", "serve"])
    after = parser.parse_args(["serve", "--log-level", "debug", "--config", "x.yml"])
    assert before.log_level == after.log_level == "DEBUG" and after.config == "x.yml"
    # given before the verb and not after, it is not undone by the verb's default
    assert parser.parse_args(["--config", "y.yml", "config"]).config == "y.yml"
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["serve", "--log-level", "loud"])
    assert exit_.value.code == cli.EXIT_CONFIG


def test_log_level_setting_is_applied(monkeypatch, capsys):
    monkeypatch.setenv("EDGESTREAM_LOG_LEVEL", "warning")
    monkeypatch.setenv("BLUESKY_KAFKA_CONFIG_PATH", "")
    root = logging.getLogger()
    level = root.level
    try:
        assert cli.main(["config"]) == 0
        assert root.level == logging.WARNING
        assert cli.main(["config", "--log-level", "ERROR"]) == 0  # the flag wins
        assert root.level == logging.ERROR
    finally:
        root.setLevel(level)
    assert '"log_level": "ERROR"' in capsys.readouterr().out


def test_metrics_port_in_use_is_a_configuration_error(tmp_path):
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    broker = EmbeddedTansu(log_path=tmp_path / "tansu.log").start()
    try:
        rc, out, _ = edgestream("serve", "--bootstrap-servers", broker.bootstrap_servers,
                                "--metrics-port", str(taken.getsockname()[1]),
                                "--duration", "5", "--log-level", "WARNING")
    finally:
        broker.stop()
        taken.close()
    assert rc == cli.EXIT_CONFIG, out
    assert out.strip().endswith("cannot listen there (metrics_port, --live-port, "
                                "metrics_host): Address already in use")


def test_a_verb_whose_distribution_is_not_installed_names_it(monkeypatch, capsys):
    """The service's CLI without the lab or the training: their verbs still parse (with
    whatever flags follow) and say what to install, one line, exit 2; no traceback."""
    monkeypatch.setattr("edgestream.apps.cli.optional.entry_points", lambda group: [])
    assert cli.main(["demo", "--duration", "20"]) == cli.EXIT_CONFIG
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("edgestream demo: not installed") and "edgestream-lab" in line
    assert "pip install -e './stream[beamline]'" in line
    assert cli.main(["library", "show", "x.npz"]) == cli.EXIT_CONFIG
    assert "edgestream-models" in capsys.readouterr().err
    verbs = cli.build_parser()._subparsers._group_actions[0].choices
    assert {"serve", "agent", "compare-agents", "broker", "simulate"} <= set(verbs)
    with pytest.raises(SystemExit) as exit_:  # the service's own verbs stay strict
        cli.main(["config", "--no-such-flag"])
    assert exit_.value.code == cli.EXIT_CONFIG


def test_an_optional_verb_that_cannot_load_says_so(monkeypatch, capsys):
    class Broken:
        name, value, dist = "agent", "edgestream_agent.commands:AGENT", None

        def load(self):
            raise ImportError("No module named 'edgestream_agent'")

    monkeypatch.setattr("edgestream.apps.cli.optional.entry_points", lambda group: [Broken()])
    assert cli.main(["agent"]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert "edgestream agent: cannot load edgestream_agent.commands:AGENT" in err
    assert "Traceback" not in err


def test_the_optional_verbs_come_from_the_entry_points():
    from importlib.metadata import entry_points

    from edgestream.apps.cli.optional import PROVIDERS, Command, commands

    found = {ep.name: ep.load() for ep in entry_points(group="edgestream.commands")}
    assert set(PROVIDERS) <= set(found)  # this checkout installs the lab and the training
    assert all(isinstance(c, Command) for c in found.values())
    assert commands() == found | {v: found[v] for v in PROVIDERS}


def test_an_optional_verb_without_its_extra_says_which(monkeypatch, capsys):
    """The image has the lab without its beamline extra: `edgestream simulate` there."""
    real = __import__("importlib.util").util.find_spec
    monkeypatch.setattr("edgestream.apps.cli.optional.find_spec",
                        lambda m: None if m in ("bluesky", "ophyd") else real(m))
    assert cli.main(["simulate", "--duration", "1"]) == cli.EXIT_CONFIG
    assert capsys.readouterr().err.strip() == (
        "edgestream simulate: needs bluesky, ophyd, not installed "
        "(pip install 'edgestream-lab[beamline]')")
