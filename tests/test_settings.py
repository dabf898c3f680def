"""Settings: precedence, typed values from the environment and flags, refusals that name
the key, the value and what is allowed."""

import logging

import pytest

from edgestream.config.settings import SettingsError, load_settings

NO_FACILITY = {"BLUESKY_KAFKA_CONFIG_PATH": ""}


def settings(env=None, tmp=None, **kw):
    return load_settings(env={**NO_FACILITY, **(env or {})},
                         facility_file=(tmp / "absent.yml") if tmp else None, **kw)


def test_precedence_file_env_cli(tmp_path):
    facility = tmp_path / "kafka.yml"
    facility.write_text("bootstrap_servers: [kafka1:9092]\nabort_run_on_kafka_exception: false\n"
                        "runengine_producer_config: {acks: 0}\n")
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
    assert load_settings(cfg, env={}, facility_file=facility).kafka.bootstrap_servers \
        == "kafka1:9092"


def test_environment_values_are_typed(tmp_path):
    s = settings({"EDGESTREAM_METRICS_PORT": "9464",
                  "EDGESTREAM_ENERGY_SHIFT_EV": '{"bmm": -1.2}',
                  "EDGESTREAM_REFERENCE_E0_EV": "{bmm: 11867.4, sim: 8979}",
                  "EDGESTREAM_ALIGN_ON_REFERENCE": "off",
                  "EDGESTREAM_KAFKA__PUBLISH_DERIVED": "yes",
                  "EDGESTREAM_KAFKA__TOPICS": "a.bluesky.runengine.documents, b",
                  "EDGESTREAM_CHANNELS": '{"bmm": {"energy": "dcm_energy"}}',
                  "EDGESTREAM_LOG_LEVEL": "debug",
                  "EDGESTREAM_KAFKA__TRANSACTIONAL_ID": "pod-1"}, tmp_path)
    assert s.metrics_port == 9464 and isinstance(s.metrics_port, int)
    assert s.energy_shift_ev == {"bmm": -1.2}
    assert s.reference_e0_ev == {"bmm": 11867.4, "sim": 8979.0}
    assert isinstance(s.reference_e0_ev["sim"], float)
    assert s.align_on_reference is False and s.kafka.publish_derived is True
    assert s.kafka.topics == ["a.bluesky.runengine.documents", "b"]
    assert s.channels == {"bmm": {"energy": "dcm_energy"}}
    assert s.log_level == "DEBUG"
    assert s.kafka.transactional_id == "pod-1"
    assert settings({"EDGESTREAM_METRICS_PORT": ""}, tmp_path).metrics_port is None


@pytest.mark.parametrize(("var", "value", "allowed"), [
    ("EDGESTREAM_ALIGN_ON_REFERENCE", "flase", "true or false"),
    ("EDGESTREAM_METRICS_PORT", "94x64", "a whole number"),
    ("EDGESTREAM_METRICS_PORT", "9464.5", "a whole number"),
    ("EDGESTREAM_MIN_POINTS", "many", "a whole number"),
    ("EDGESTREAM_LOG_LEVEL", "loud", "one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ("EDGESTREAM_KAFKA__DELIVERY", "once", "one of at_least_once, exactly_once"),
    ("EDGESTREAM_KAFKA__AUTO_OFFSET_RESET", "first", "one of earliest, latest"),
    ("EDGESTREAM_RUN_TIMEOUT_S", "nan", "a number"),
    ("EDGESTREAM_ENERGY_SHIFT_EV", "-1.2", "a mapping of text to a number"),
])
def test_wrong_environment_values_name_key_value_and_what_is_allowed(tmp_path, var, value,
                                                                      allowed):
    with pytest.raises(SettingsError) as err:
        settings({var: value}, tmp_path)
    text = str(err.value)
    assert f"environment {var.split('.')[0]}" in text and repr(value) in text, text
    assert allowed in text, text


def test_a_wrong_value_inside_a_mapping_names_its_key(tmp_path):
    with pytest.raises(SettingsError, match=r"ENERGY_SHIFT_EV\.bmm='x': expected a number"):
        settings({"EDGESTREAM_ENERGY_SHIFT_EV": "{bmm: x}"}, tmp_path)


@pytest.mark.parametrize(("text", "message"), [
    ("metrics_port: 70000\n", r"metrics_port=70000: expected 0 to 65535"),
    ("max_open_runs: 0\n", r"max_open_runs=0: expected at least 1"),
    ("grid: {start: 10, stop: 5}\n", r"grid.start=10.0 must be below grid.stop=5.0"),
    ("kafka: {heartbeat_interval_ms: 9000, session_timeout_ms: 6000}\n",
     "heartbeat_interval_ms=9000 must be below"),
    ("kafka: {bootstrap_servers: kafka1}\n", r"'kafka1': expected host:port"),
    ("align_on_reference: maybe\n", r"align_on_reference='maybe': expected true or false"),
    ("kafka: {client: {securty_protocol: SSL}}\n", "unknown Kafka client setting"),
])
def test_wrong_file_values_are_refused(tmp_path, text, message):
    cfg = tmp_path / "edgestream.yml"
    cfg.write_text(text)
    with pytest.raises(SettingsError, match=message):
        settings(None, tmp_path, path=cfg)


def test_unknown_setting_names_its_source(tmp_path):
    cfg = tmp_path / "bad.yml"
    cfg.write_text("kafka:\n  bootstrap: x\n")
    with pytest.raises(SettingsError, match=r"bad.yml: kafka.bootstrap: unknown setting"):
        settings(None, tmp_path, path=cfg)
    with pytest.raises(SettingsError, match=r"EDGESTREAM_METRIC_PORT: unknown setting"):
        settings({"EDGESTREAM_METRIC_PORT": "1"}, tmp_path)


def test_tool_variables_are_not_settings(tmp_path):
    s = settings({"EDGESTREAM_CACHE": "/tmp/x", "EDGESTREAM_SKIP_APACHE": "1"}, tmp_path)
    assert s.beamline == "sim"


def test_command_line_values_are_typed_too(tmp_path):
    s = settings(None, tmp_path, overrides={"metrics_port": "9100", "log_level": "warning",
                                            "kafka": {"group_id": None}})
    assert s.metrics_port == 9100 and s.log_level == "WARNING"
    assert s.kafka.group_id == "edgestream"


def test_secrets_never_printed(tmp_path, caplog):
    cfg = tmp_path / "edgestream.yml"
    cfg.write_text("kafka:\n  client:\n    security.protocol: SASL_PLAINTEXT\n"
                   "    sasl.mechanism: PLAIN\n    sasl.username: beamline\n"
                   "    sasl.password: hunter2\n")
    with caplog.at_level(logging.DEBUG):
        s = settings(None, tmp_path, path=cfg)
    text = repr(s) + str(s.masked()) + caplog.text
    assert "hunter2" not in text
    assert s.masked()["kafka"]["client"]["sasl_plain_password"] == "***"
    with pytest.raises(SettingsError) as err:  # a refused value next to the password
        settings({"EDGESTREAM_KAFKA__CLIENT": '{"sasl.mechanism": "PLAIN-ish"}'}, tmp_path,
                 path=cfg)
    assert "sasl.mechanism='PLAIN-ish'" in str(err.value) and "hunter2" not in str(err.value)


def test_plugins_from_the_environment_are_a_list_of_names(tmp_path):
    """EDGESTREAM_PLUGINS=a,b names plugins; it used to stay a string, so that names were
    matched as substrings of it and a missing one was reported letter by letter."""
    s = settings({"EDGESTREAM_PLUGINS": "cu_k_valence, cu_k_motif"}, tmp_path)
    assert s.plugins == ["cu_k_valence", "cu_k_motif"]
    from edgestream.plugin.api import discover

    assert sorted(m.name for m in discover(s.plugins)) == ["cu_k_motif", "cu_k_valence"]
    assert discover(settings({"EDGESTREAM_PLUGINS": "valence"}, tmp_path).plugins) == []


@pytest.mark.parametrize(("var", "value", "message"), [
    ("EDGESTREAM_KAFKA__ANNOTATIONS_TOPIC", "{foo}.xas.annotations",
     "kafka.annotations_topic='{foo}.xas.annotations': {foo} cannot be filled in; only "
     "{beamline} may be"),
    ("EDGESTREAM_KAFKA__DEAD_LETTER_TOPIC", "", "kafka.dead_letter_topic='': expected a "
     "topic name"),
    ("EDGESTREAM_KAFKA__DERIVED_TOPIC", "{beamline.derived", "not a template"),
    ("EDGESTREAM_KAFKA__DERIVED_TOPIC", "{beamline:>9}.derived", "{beamline:>9} cannot be"),
    ("EDGESTREAM_KAFKA__DERIVED_TOPIC", "{}.derived", "{} cannot be filled in"),
    ("EDGESTREAM_ROUTER__TOPIC", "{endstation}.runs", "router.topic='{endstation}.runs'"),
    ("EDGESTREAM_ROUTER__TOPIC", "{beamline}/runs", "makes 'bl/runs': a Kafka topic name"),
    ("EDGESTREAM_BEAMLINE", "my line", "(beamline='my line')='{beamline}.xas.annotations' "
     "makes 'my line.xas.annotations'"),
    ("EDGESTREAM_KAFKA__TOPICS", "bmm.documents, a/b", "kafka.topics[1]='a/b'"),
    ("EDGESTREAM_KAFKA__TOPIC_PATTERN", "^(bmm", "kafka.topic_pattern='^(bmm': not a regular"),
    ("EDGESTREAM_CHANNELS", "{bmm: {I0: ion0}}",
     "channels.bmm.I0='ion0': unknown role (one of energy, i0, it, if, ir, mu, mu_ref, eels, "
     "energy_loss)"),
    ("EDGESTREAM_KAFKA__MAX_MESSAGE_BYTES", "1000",
     "kafka.max_message_bytes=1000: expected at least 65536"),
    ("EDGESTREAM_ROUTER__PARTITIONS", "0", "router.partitions=0: expected at least 1"),
    ("EDGESTREAM_TILED__MAX_QUEUE", "0", "tiled.max_queue=0: expected at least 1"),
])
def test_templates_roles_and_bounds_are_checked_at_load(tmp_path, var, value, message):
    """Refused when the settings are loaded (so by `edgestream config` too), not when the
    Kafka service or the router starts or, worse, once per message."""
    with pytest.raises(SettingsError) as err:
        settings({var: value}, tmp_path)
    assert message in str(err.value), str(err.value)


def test_the_default_templates_and_a_beamline_of_the_topic_pass(tmp_path):
    s = settings({"EDGESTREAM_KAFKA__ANNOTATIONS_TOPIC": "{beamline}-{beamline}.out",
                  "EDGESTREAM_CHANNELS": "{bmm: {energy: e, if: pips, mu_ref: mr}}"}, tmp_path)
    assert s.kafka.annotations_topic == "{beamline}-{beamline}.out"
    assert s.channels == {"bmm": {"energy": "e", "if": "pips", "mu_ref": "mr"}}


@pytest.mark.parametrize(("var", "value", "words"), [
    ("EDGESTREAM_KAFKA__DELIVERY", "twice", "one of at_least_once, exactly_once"),
    ("EDGESTREAM_KAFKA__ANNOTATIONS_TOPIC", "{run}.out", "only {beamline} may be"),
])
def test_edgestream_config_refuses_invalid_values_with_exit_2(monkeypatch, capsys, var, value,
                                                               words):
    from edgestream.apps.cli import EXIT_CONFIG, main

    monkeypatch.setenv("BLUESKY_KAFKA_CONFIG_PATH", "")
    monkeypatch.setenv(var, value)
    assert main(["config"]) == EXIT_CONFIG == 2
    out = capsys.readouterr()
    assert out.out == "" and "configuration error" in out.err and words in out.err, out
    monkeypatch.delenv(var)
    assert main(["config"]) == 0
    assert '"annotations_topic": "{beamline}.xas.annotations"' in capsys.readouterr().out
