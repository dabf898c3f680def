import logging

import pytest

from edgestream.settings import SettingsError, load_settings, translate_librdkafka

FACILITY = """\
---
abort_run_on_kafka_exception: false
bootstrap_servers:
  - kafka1.facility:9092
  - kafka2.facility:9092
runengine_producer_config:
  security.protocol: SASL_SSL
  sasl.mechanisms: SCRAM-SHA-512
  sasl.username: beamline
  sasl.password: hunter2
  ssl.ca.location: /etc/ssl/ca.pem
  ssl.endpoint.identification.algorithm: none
  message.max.bytes: 10000000
"""


@pytest.fixture
def facility(tmp_path):
    path = tmp_path / "kafka.yml"
    path.write_text(FACILITY)
    return path


def test_facility_file_is_translated(facility):
    s = load_settings(env={}, facility_file=facility)
    assert s.kafka.bootstrap_servers == "kafka1.facility:9092,kafka2.facility:9092"
    assert s.kafka.client == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "beamline",
        "sasl_plain_password": "hunter2",
        "ssl_cafile": "/etc/ssl/ca.pem",
        "ssl_check_hostname": False,
    }


def test_secrets_never_printed(facility, caplog):
    s = load_settings(env={}, facility_file=facility)
    text = repr(s) + str(s.masked())
    assert "hunter2" not in text and "beamline'" not in text.replace("'beamline': 'sim'", "")
    assert s.masked()["kafka"]["client"]["sasl_plain_password"] == "***"


def test_unknown_librdkafka_key_is_logged_by_name_only(caplog):
    with caplog.at_level(logging.WARNING):
        out = translate_librdkafka({"message.max.bytes": 5, "sasl.password": "s3cr3t"}, "f")
    assert out == {"sasl_plain_password": "s3cr3t"}
    assert "message.max.bytes" in caplog.text and "s3cr3t" not in caplog.text


def test_precedence_file_env_cli(tmp_path, facility):
    cfg = tmp_path / "edgestream.yml"
    cfg.write_text("kafka:\n  group_id: from-file\n  max_poll_records: 50\nrun_timeout_s: 30\n"
                   "channels:\n  bmm:\n    energy: dcm_energy\n    i0: I0\n")
    env = {"EDGESTREAM_KAFKA__GROUP_ID": "from-env", "EDGESTREAM_RUN_TIMEOUT_S": "12.5"}
    s = load_settings(cfg, env=env, overrides={"kafka": {"bootstrap_servers": "cli:1"}},
                      facility_file=facility)
    assert s.kafka.group_id == "from-env"
    assert s.kafka.max_poll_records == 50
    assert s.run_timeout_s == 12.5
    assert s.kafka.bootstrap_servers == "cli:1"
    assert s.channels == {"bmm": {"energy": "dcm_energy", "i0": "I0"}}


def test_unknown_setting_names_its_source(tmp_path):
    cfg = tmp_path / "bad.yml"
    cfg.write_text("kafka:\n  bootstrap: x\n")
    with pytest.raises(SettingsError, match=r"bad.yml: unknown setting 'bootstrap'"):
        load_settings(cfg, env={}, facility_file=tmp_path / "absent.yml")


def test_bad_number_in_environment(tmp_path):
    with pytest.raises(SettingsError, match="environment"):
        load_settings(env={"EDGESTREAM_MIN_POINTS": "many"}, facility_file=tmp_path / "x")


def test_plugins_from_the_environment_are_a_list_of_names(tmp_path):
    """EDGESTREAM_PLUGINS=a,b names plugins; it used to stay a string, so that names were
    matched as substrings of it and a missing one was reported letter by letter."""
    s = load_settings(env={"EDGESTREAM_PLUGINS": "cu_k_valence, cu_k_motif"},
                      facility_file=tmp_path / "x")
    assert s.plugins == ["cu_k_valence", "cu_k_motif"]
    from edgestream.plugins import discover

    assert sorted(m.name for m in discover(s.plugins)) == ["cu_k_motif", "cu_k_valence"]
    assert discover(load_settings(env={"EDGESTREAM_PLUGINS": "valence"},
                                  facility_file=tmp_path / "x").plugins) == []
