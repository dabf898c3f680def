"""The deployment files: they parse, they name real metrics, and their commands are the
CLI's (a renamed flag or metric breaks this test, not a beamline's deployment)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from edgestream.apps.cli import build_parser
from edgestream.config.settings import load_settings
from edgestream.metrics import Metrics

OPS = Path(__file__).parents[1] / "ops"
SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


def metric_names() -> set[str]:
    names = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        names.update(family.name + s for s in SUFFIXES)
    return names


def used_metrics(expr: str) -> set[str]:
    return set(re.findall(r"\bedgestream_[a-z_]+", expr))


def test_grafana_dashboard_is_provisioning_ready() -> None:
    dash = json.loads((OPS / "grafana/dashboards/edgestream.json").read_text())
    ds = yaml.safe_load((OPS / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = ds["datasources"][0]["uid"]
    known = metric_names()
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 15 and dash["uid"] and "id" not in dash
    # The data source is a dashboard variable, so the file works both provisioned (the
    # variable falls back to the default Prometheus, which provisioning makes ``uid``) and
    # imported through the UI (``__inputs`` asks for the data source and fills the variable).
    (ds_input,) = dash["__inputs"]
    assert ds_input["type"] == "datasource" and ds_input["pluginId"] == "prometheus"
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["datasource"]["current"]["value"] == "${" + ds_input["name"] + "}"
    assert ds["datasources"][0]["isDefault"] and uid not in json.dumps(dash)
    for p in dash["panels"]:
        assert p["datasource"]["uid"] == "${datasource}"
        assert all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"])
    for e in exprs:
        assert used_metrics(e) and used_metrics(e) <= known, e
    covered = set().union(*map(used_metrics, exprs))
    for family in Metrics().registry.collect():  # every metric is on the dashboard
        assert any(n.startswith(family.name) for n in covered), family.name
    prov = yaml.safe_load((OPS / "grafana/provisioning/dashboards/edgestream.yml").read_text())
    assert prov["providers"][0]["type"] == "file"


def test_prometheus_scrape_and_alert_rules() -> None:
    conf = yaml.safe_load((OPS / "prometheus/prometheus.yml").read_text())
    (job,) = conf["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:9464"]
    rules = yaml.safe_load((OPS / "prometheus" / conf["rule_files"][0]).read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    assert exprs and all(used_metrics(e) <= metric_names() for e in exprs)


def k8s() -> list[dict]:
    return list(yaml.safe_load_all((OPS / "kubernetes/edgestream.yaml").read_text()))


def test_kubernetes_objects_and_their_commands(tmp_path) -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in k8s()}
    config = docs[("ConfigMap", "edgestream-config")]["data"]["config.yml"]
    (tmp_path / "config.yml").write_text(config)
    s = load_settings(tmp_path / "config.yml", env={}, facility_file=tmp_path / "none.yml")
    assert s.beamline == "bmm" and s.kafka.group_id == "edgestream-bmm"
    for name in ("edgestream", "edgestream-agent"):
        (c,) = docs[("Deployment", name)]["spec"]["template"]["spec"]["containers"]
        args = build_parser().parse_args(c["args"])
        assert args.verb in ("serve", "agent")
    serve = build_parser().parse_args(
        docs[("Deployment", "edgestream")]["spec"]["template"]["spec"]["containers"][0]["args"])
    assert serve.metrics_port == 9464 and serve.live_port == 8765
    svc = docs[("Service", "edgestream")]
    assert {p["port"] for p in svc["spec"]["ports"]} == {9464, 8765}
    hpa = docs[("HorizontalPodAutoscaler", "edgestream")]["spec"]
    target = hpa["scaleTargetRef"]
    assert (target["kind"], target["name"]) in docs, "the autoscaler scales a Deployment here"
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300, \
        "every scale step is a rebalance: no flapping"


@pytest.mark.parametrize("unit", ["edgestream.service", "edgestream-agent.service"])
def test_systemd_units_run_real_commands(unit: str) -> None:
    text = (OPS / "systemd" / unit).read_text().replace("\\\n", " ")
    (line,) = [x for x in text.splitlines() if x.startswith("ExecStart=")]
    argv = shlex.split(line.split("=", 1)[1].replace("${SAMPLE}", "S")
                       .replace("${QSERVER_URI}", "http://q"))
    assert argv[0].endswith("/edgestream")
    build_parser().parse_args(argv[1:])
    assert "Restart=on-failure" in text and "NoNewPrivileges=true" in text


def test_the_dockerfile_builds_the_image_the_kubernetes_example_runs() -> None:
    """No Docker engine on CI machines: what can break silently is pinned here instead. The
    image copies every folder the wheels are built from (the service's package discovery, and
    stream/ for the agent's lab distribution), runs the
    console script as the non-root uid of the Deployment, and exposes its ports. (The build
    steps themselves were run by hand in a clean venv: wheel, install, `edgestream plugins`.)"""
    import tomllib

    text = (OPS.parent / "Dockerfile").read_text()
    pyproject = tomllib.loads((OPS.parent / "pyproject.toml").read_text())
    copied = set(re.findall(r"^COPY (\w+) \1$", text, re.M))
    assert copied == set(pyproject["tool"]["setuptools"]["packages"]["find"]["where"]) | {"stream"}
    assert 'ENTRYPOINT ["edgestream"]' in text
    final = text.split("\nFROM ")[-1]
    (uid,) = re.findall(r"^USER (\d+)$", final, re.M)
    images = set()
    for name in ("edgestream", "edgestream-agent"):
        pod = {(d["kind"], d["metadata"]["name"]): d for d in k8s()}[("Deployment", name)]
        spec = pod["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsUser"] == int(uid)
        images |= {c["image"] for c in spec["containers"]}
    assert len(images) == 1  # one image for the service and the agent
    exposed = {int(p) for p in re.findall(r"^EXPOSE (.+)$", final, re.M)[0].split()}
    assert exposed == {9464, 8765}
    ignored = (OPS.parent / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


def test_kafka_launcher_ships_its_broker_files() -> None:
    """ops/kafka holds the shell entry point only: pom.xml and log4j2.yaml are package data of
    edgestream_dev.apache, found next to its code (no checkout layout assumed)."""
    import tomllib

    import edgestream_dev.apache as apache

    script = (OPS / "kafka/apache-kafka.sh").read_text()
    assert 'exec "$py" -m edgestream_dev.apache "$@"' in script
    assert not (OPS / "kafka/pom.xml").exists() and not (OPS / "kafka/log4j2.yaml").exists()
    data = apache.config_dir()
    assert data == Path(apache.__file__).parent / "data"
    assert "<artifactId>kafka_2.13</artifactId>" in (data / "pom.xml").read_text()
    assert "Console" in yaml.safe_load((data / "log4j2.yaml").read_text())["Configuration"][
        "Appenders"]
    lab = tomllib.loads((OPS.parent / "stream/pyproject.toml").read_text())
    assert lab["tool"]["setuptools"]["package-data"]["edgestream_dev.apache"] == ["data/*"]
