"""Security on Apache Kafka: SASL/PLAIN, and SASL/PLAIN over TLS with a CA made here, from a
facility kafka.yml in nslsii's layouts; no secret in the logs; refusals end the start with
exit code 3 and one line that says why."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import yaml
from harness import (
    Expected,
    ServiceProcess,
    fly_run,
    publish_runs,
    read_complete,
)

from edgestream.apps.cli import EXIT_CONNECTION
from edgestream.doors.kafka.admin import create_topics
from edgestream_dev.apache import ApacheKafka, free_base_port
from edgestream_dev.procs import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.apache, pytest.mark.timeout(300)]

PASSWORD = "pw-7f3a9c-do-not-log"
STORE_PASSWORD = "store-2b81"


def _skip_without_apache() -> None:
    from brokers import apache_skip_reason

    reason = apache_skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def sasl_kafka(tmp_path):
    _skip_without_apache()
    kafka = ApacheKafka(workdir=tmp_path / "kafka", base_port=free_base_port(1),
                        sasl_users={"beamline": PASSWORD})
    kafka.start()
    yield kafka
    kafka.stop()


def make_ca_and_broker_keystore(folder):
    """A self-signed CA, and the broker's key and certificate (signed by it, for 127.0.0.1
    and localhost) in a PKCS12 keystore. Returns (CA certificate, keystore)."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=edgestream test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out",
            "broker.csr", "-subj", "/CN=127.0.0.1")
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "broker.pem", "-days", "2", "-extfile", "san.cnf")
    openssl("pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key", "-certfile",
            "ca.pem", "-out", "broker.p12", "-name", "broker", "-passout",
            f"pass:{STORE_PASSWORD}")
    return folder / "ca.pem", folder / "broker.p12"


@pytest.fixture
def sasl_tls_kafka(tmp_path):
    """Apache Kafka with a SASL_SSL (PLAIN) listener whose certificate our CA signed."""
    _skip_without_apache()
    ca, keystore = make_ca_and_broker_keystore(tmp_path / "pki")
    kafka = ApacheKafka(workdir=tmp_path / "kafka", base_port=free_base_port(1),
                        sasl_users={"beamline": PASSWORD},
                        sasl_tls={"ssl.keystore.location": str(keystore),
                                  "ssl.keystore.password": STORE_PASSWORD,
                                  "ssl.keystore.type": "PKCS12",
                                  "ssl.key.password": STORE_PASSWORD})
    kafka.start()
    kafka.ca = ca
    yield kafka
    kafka.stop()


def facility_file(path, bootstrap, password):
    """The nslsii layout of /etc/bluesky/kafka.yml, librdkafka keys."""
    path.write_text(yaml.safe_dump({
        "abort_run_on_kafka_exception": False,
        "bootstrap_servers": [bootstrap],
        "runengine_producer_config": {
            "acks": 0,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": "PLAIN",
            "sasl.username": "beamline",
            "sasl.password": password,
        },
    }))
    return path


def facility_tls_file(path, bootstrap, password, ca):
    """nslsii's layout with a security section (its tests' third layout): SASL_SSL for
    every client, consumer_config, and the RunEngine's producer with its codec."""
    security = {"security.protocol": "SASL_SSL", "sasl.mechanisms": "PLAIN",
                "sasl.username": "beamline", "sasl.password": password}
    if ca is not None:
        security["ssl.ca.location"] = str(ca)
    path.write_text(yaml.safe_dump({
        "abort_run_on_kafka_exception": False,
        "bootstrap_servers": [bootstrap],
        "producer_consumer_security_config": security,
        "consumer_config": {"auto.offset.reset": "earliest"},
        "runengine_producer_config": {"compression.codec": "snappy", **security},
        "runengine_topics": ["{endstation}.bluesky.runengine.documents"],
    }))
    return path


def service_config(path, beamline):
    path.write_text(yaml.safe_dump({
        "beamline": beamline,
        "kafka": {"topics": [f"{beamline}.bluesky.runengine.documents"],
                  "group_id": f"{beamline}-svc", "session_timeout_ms": 6000,
                  "heartbeat_interval_ms": 1000, "publish_derived": False,
                  "connect_timeout_s": 20},
    }))
    return path


def annotate_through(kafka, kafka_yml, tmp_path, beamline):
    """Publish three runs on the plain listener; the service, secured by ``kafka_yml``,
    annotates them. Returns (annotations, expected run uids, the service's log)."""
    plain = kafka.bootstrap_servers
    create_topics(plain, [f"{beamline}.bluesky.runengine.documents",
                          f"{beamline}.xas.annotations", f"{beamline}.xas.deadletter"],
                  partitions=1)
    rng = np.random.default_rng(1)
    runs = [fly_run(rng) for _ in range(3)]
    expected = Expected.of(runs)
    log = tmp_path / "svc.log"
    service = ServiceProcess(service_config(tmp_path / "svc.yml", beamline), log,
                             kafka_yml=str(kafka_yml))
    service.start()
    try:
        publish_runs(plain, f"{beamline}.bluesky.runengine.documents", runs)
        annotations = read_complete(plain, f"{beamline}.xas.annotations", expected, 120)
    finally:
        service.stop()
    return annotations, set(expected.spectra), log.read_text()


def run_refused(kafka_yml, tmp_path, beamline):
    """The service against a broker that refuses it: (exit code, log)."""
    log = tmp_path / "svc.log"
    service = ServiceProcess(service_config(tmp_path / "svc.yml", beamline), log,
                             kafka_yml=str(kafka_yml))
    service.start()
    wait_until(lambda: not service.alive(), 60, "exit", interval=0.5, strict=False)
    return service.stop(), log.read_text()


def test_sasl_plain_from_kafka_yml_and_no_secret_in_logs(sasl_kafka, tmp_path):
    yml = facility_file(tmp_path / "kafka.yml", sasl_kafka.sasl_bootstrap, PASSWORD)
    annotations, runs, log = annotate_through(sasl_kafka, yml, tmp_path, "secure")
    assert {a["ids"]["run_uid"] for a in annotations} == runs
    assert PASSWORD not in log


def test_wrong_password_is_refused_and_not_logged(sasl_kafka, tmp_path):
    wrong = "wrong-" + PASSWORD
    yml = facility_file(tmp_path / "kafka.yml", sasl_kafka.sasl_bootstrap, wrong)
    code, log = run_refused(yml, tmp_path, "refused")
    # refused at once (retrying cannot help), one line naming the cause
    assert code == EXIT_CONNECTION, log[-2000:]
    line = log.strip().splitlines()[-1]
    assert line.startswith("edgestream: kafka 127.0.0.1:") and "refused the connection" in line
    assert "Authentication failed: Invalid username or password" in line, line
    assert wrong not in log and PASSWORD not in log


def test_sasl_plain_over_tls_with_our_ca(sasl_tls_kafka, tmp_path):
    """SASL_SSL, PLAIN, the broker's certificate checked against the CA given in
    ssl.ca.location (hostname checked too: the certificate names 127.0.0.1)."""
    yml = facility_tls_file(tmp_path / "kafka.yml", sasl_tls_kafka.sasl_bootstrap, PASSWORD,
                            sasl_tls_kafka.ca)
    annotations, runs, log = annotate_through(sasl_tls_kafka, yml, tmp_path, "tls")
    assert {a["ids"]["run_uid"] for a in annotations} == runs
    assert PASSWORD not in log and STORE_PASSWORD not in log


def test_tls_without_the_ca_is_refused(sasl_tls_kafka, tmp_path):
    """Without ssl.ca.location the system's CAs are used; they do not know ours: the
    certificate is refused, at once, exit 3."""
    yml = facility_tls_file(tmp_path / "kafka.yml", sasl_tls_kafka.sasl_bootstrap, PASSWORD,
                            None)
    code, log = run_refused(yml, tmp_path, "untrusted")
    assert code == EXIT_CONNECTION, log[-2000:]
    line = log.strip().splitlines()[-1]
    assert line.startswith("edgestream: kafka 127.0.0.1:"), line
    assert "(SASL_SSL PLAIN) refused the connection" in line, line
    assert "CERTIFICATE_VERIFY_FAILED" in line, line
    assert PASSWORD not in log
