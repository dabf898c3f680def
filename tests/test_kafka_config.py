"""A facility's kafka.yml in each layout nslsii's own tests use (written here, same shape),
translated for kafka-python; security that cannot be applied stops the start."""

from __future__ import annotations

import logging
import ssl

import pytest

from edgestream.config.facility import read_kafka_yml, translate
from edgestream.config.settings import SettingsError, load_settings
from edgestream.doors.kafka.clients import client_args, make_ssl_context

# nslsii tests: test_bluesky_kafka_config_true / _false (abort_run_on_kafka_exception)
PRODUCER_ONLY = """\
---
  abort_run_on_kafka_exception: {abort}
  bootstrap_servers:
    - localhost:9092
    - kafka1:9092
    - kafka2:9092
  runengine_producer_config:
    acks: 0
    message.timeout.ms: 3000
    compression.codec: snappy
"""

# nslsii tests: test_bluesky_kafka_config_security_section
SECURITY_SECTION = """\
---
  abort_run_on_kafka_exception: false
  bootstrap_servers:
    - localhost:9092
    - kafka2:9092
    - kafka3:9092
  producer_consumer_security_config:
    security.protocol: SASL_SSL
    sasl.mechanisms: PLAIN
    ssl.ca.location: {ca}
  consumer_config:
    auto.offset.reset: latest
  runengine_producer_config:
    compression.codec: snappy
    security.protocol: SASL_SSL
    sasl.mechanisms: PLAIN
    ssl.ca.location: {ca}
  runengine_topics:
    - "{{endstation}}.bluesky.runengine.documents"
    - "{{endstation}}.bluesky.runengine.{{document_name}}.documents"
"""

CREDENTIALS = {"EDGESTREAM_KAFKA__CLIENT": '{"sasl.username": "bmm", "sasl.password": "s3cr3t"}'}


@pytest.fixture
def ca(tmp_path):
    path = tmp_path / "ca-bundle.crt"
    path.write_text("-----BEGIN CERTIFICATE-----\n")  # only read by the TLS handshake
    return path


def write(tmp_path, text, name="kafka.yml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("abort", ["true", "false"])
def test_producer_only_layout(tmp_path, abort, caplog):
    path = write(tmp_path, PRODUCER_ONLY.format(abort=abort))
    with caplog.at_level(logging.INFO):
        s = load_settings(env={}, facility_file=path)
    assert s.kafka.bootstrap_servers == "localhost:9092,kafka1:9092,kafka2:9092"
    # the documents' codec is checked (our consumer decodes it) and used for our outputs
    assert s.kafka.client == {"compression_type": "snappy"}
    # acks 0 and the 3 s timeout are the RunEngine's: named, with the reason
    assert "acks not applied: 0: edgestream's producer keeps acks=all" in caplog.text
    assert "message.timeout.ms not applied: a setting of the RunEngine's producer" \
        in caplog.text
    assert "abort_run_on_kafka_exception" not in caplog.text  # known, the RunEngine's


def test_security_section_layout_needs_the_credentials(tmp_path, ca):
    path = write(tmp_path, SECURITY_SECTION.format(ca=ca))
    with pytest.raises(SettingsError, match=r"SASL PLAIN needs sasl\.username and sasl\.password"):
        load_settings(env={}, facility_file=path)
    s = load_settings(env=CREDENTIALS, facility_file=path)
    assert s.kafka.bootstrap_servers == "localhost:9092,kafka2:9092,kafka3:9092"
    assert s.kafka.client == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "ssl_cafile": str(ca),
        "compression_type": "snappy", "sasl_plain_username": "bmm",
        "sasl_plain_password": "s3cr3t",
    }
    assert s.kafka.auto_offset_reset == "latest"  # consumer_config
    # runengine_topics: the per-run topic is consumed, the per-document one is not
    import re

    pattern = re.compile(s.kafka.topic_pattern)
    assert pattern.match("bmm.bluesky.runengine.documents")
    assert not pattern.match("bmm.bluesky.runengine.event.documents")
    assert s.masked()["kafka"]["client"]["sasl_plain_password"] == "***"


def test_security_in_the_runengine_section_only(tmp_path, ca):
    """nslsii merges the security section into the RunEngine's producer config; a file that
    has it only there still secures edgestream's clients."""
    path = write(tmp_path, f"""\
abort_run_on_kafka_exception: false
bootstrap_servers: [kafka1:9093]
runengine_producer_config:
  acks: 1
  security.protocol: sasl_ssl
  sasl.mechanism: SCRAM-SHA-512
  sasl.username: bmm
  sasl.password: pw
  ssl.ca.location: {ca}
  enable.ssl.certificate.verification: "false"
""")
    s = load_settings(env={}, facility_file=path)
    assert s.kafka.client["security_protocol"] == "SASL_SSL"
    assert s.kafka.client["sasl_mechanism"] == "SCRAM-SHA-512"
    consumer = client_args(s.kafka, {"ssl_context", "security_protocol", "sasl_mechanism"})
    assert consumer["ssl_context"].verify_mode == ssl.CERT_NONE
    assert "ssl_verify_certificate" not in consumer


def test_flat_librdkafka_layout(tmp_path):
    path = write(tmp_path, "bootstrap.servers: k1:9092,k2:9092\nclient.id: bmm-edge\n"
                           "session.timeout.ms: '20000'\nfetch.wait.max.ms: 50\n")
    s = load_settings(env={}, facility_file=path)
    assert s.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert s.kafka.session_timeout_ms == 20000
    assert s.kafka.client == {"client_id": "bmm-edge", "fetch_max_wait_ms": 50}


def test_bluesky_kafka_config_path_is_honoured(tmp_path):
    path = write(tmp_path, PRODUCER_ONLY.format(abort="false"), "elsewhere.yml")
    s = load_settings(env={"BLUESKY_KAFKA_CONFIG_PATH": str(path)})
    assert s.kafka.bootstrap_servers.startswith("localhost:9092")
    # nslsii refuses a path that does not exist (FileNotFoundError): so do we
    with pytest.raises(SettingsError, match=r"absent\.yml: facility Kafka file not found"):
        load_settings(env={"BLUESKY_KAFKA_CONFIG_PATH": str(tmp_path / "absent.yml")})
    # an explicit file (--kafka-yml) wins over the variable
    other = write(tmp_path, "bootstrap_servers: [other:9092]\n", "other.yml")
    assert load_settings(env={"BLUESKY_KAFKA_CONFIG_PATH": str(path)},
                         facility_file=other).kafka.bootstrap_servers == "other:9092"


@pytest.mark.parametrize(("section", "message"), [
    ("producer_consumer_security_config:\n  security.protocol: SASL_SSL\n"
     "  sasl.mechanism: OAUTHBEARER\n", "OAUTHBEARER needs a token provider"),
    ("producer_consumer_security_config:\n  security.protocol: SSL\n"
     "  ssl.keystore.location: /etc/kafka/client.p12\n",
     "ssl.keystore.location cannot be applied by kafka-python"),
    ("producer_consumer_security_config:\n  security.protocol: SASL_SSL\n"
     "  sasl.mechanism: PLAIN\n  sasl.username: u\n  sasl.password: p\n"
     "  ssl.ca.pem: '-----BEGIN'\n", "ssl.ca.pem cannot be applied"),
    ("producer_consumer_security_config:\n  sasl.mechanism: PLAIN\n  sasl.username: u\n"
     "  sasl.password: p\n", "but security.protocol is PLAINTEXT: the credentials would not"),
    ("producer_consumer_security_config:\n  security.protocol: SSL\n"
     "  ssl.ca.location: /nonexistent/ca.pem\n", "ssl_cafile /nonexistent/ca.pem: no readable"),
    ("producer_consumer_security_config:\n  security.protocol: TLS\n",
     "security.protocol='TLS': expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
    ("producer_consumer_security_config:\n  security.protocol: SASL_PLAINTEXT\n",
     "needs sasl.mechanism"),
    ("consumer_config:\n  auto.offset.reset: sometime\n", "expected earliest or latest"),
])
def test_security_that_cannot_be_applied_stops_the_start(tmp_path, section, message):
    path = write(tmp_path, "bootstrap_servers: [kafka1:9092]\n" + section)
    with pytest.raises(SettingsError, match=message):
        load_settings(env={}, facility_file=path)


def test_a_codec_without_its_library_is_refused(tmp_path, monkeypatch):
    import kafka.codec

    monkeypatch.setattr(kafka.codec, "has_lz4", lambda: False)
    path = write(tmp_path, "bootstrap_servers: [k:9092]\nrunengine_producer_config:\n"
                           "  compression.codec: lz4\n")
    with pytest.raises(SettingsError, match=r"lz4 needs the lz4 package \(pip install lz4\)"):
        load_settings(env={}, facility_file=path)


def test_every_translated_key_is_a_kafka_python_argument():
    """The table's targets exist in kafka-python (or are KafkaSettings fields), so nothing
    translated is dropped on the way to the clients."""
    from kafka import KafkaConsumer, KafkaProducer

    from edgestream.config.librdkafka import CLIENT_KEYS, SECURITY_KEYS
    from edgestream.config.settings import KafkaSettings

    known = set(KafkaConsumer.DEFAULT_CONFIG) | set(KafkaProducer.DEFAULT_CONFIG)
    fields = set(KafkaSettings.__dataclass_fields__)
    for key, spec in {**SECURITY_KEYS, **CLIENT_KEYS}.items():
        assert spec.target in (fields if spec.setting else known | {"ssl_verify_certificate"}
                               ) or spec.target == "acks", key


def test_values_are_converted():
    t = translate({"auto.offset.reset": "smallest", "enable.idempotence": "true",
                   "linger.ms": "7", "ssl.endpoint.identification.algorithm": "none",
                   "ssl.ca.location": "probe", "group.id": "theirs",
                   "queue.buffering.max.messages": 1000}, "f")
    assert t.settings == {"auto_offset_reset": "earliest"}
    assert t.client == {"enable_idempotence": True, "linger_ms": 7,
                        "ssl_check_hostname": False, "ssl_cafile": None}
    assert set(t.not_applied) == {"group.id", "queue.buffering.max.messages"}


def test_own_config_takes_librdkafka_keys_too(tmp_path):
    cfg = write(tmp_path, "kafka:\n  client:\n    security.protocol: SSL\n"
                          "    ssl.endpoint.identification.algorithm: https\n"
                          "    auto.offset.reset: latest\n", "edgestream.yml")
    s = load_settings(cfg, env={}, facility_file=tmp_path / "none.yml")
    assert s.kafka.client == {"security_protocol": "SSL", "ssl_check_hostname": True}
    assert s.kafka.auto_offset_reset == "latest"


def test_verification_off_builds_an_unverifying_context():
    ctx = make_ssl_context({})
    assert ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname


def test_facility_file_sections_must_be_mappings(tmp_path):
    path = write(tmp_path, "bootstrap_servers: [k:9092]\nconsumer_config: latest\n")
    with pytest.raises(SettingsError, match="consumer_config: expected a mapping"):
        load_settings(env={}, facility_file=path)
    assert read_kafka_yml(tmp_path / "absent.yml").path is None


def test_kafka_python_names_are_checked_and_fields_set(tmp_path, caplog):
    cfg = write(tmp_path, "kafka:\n  client:\n    security_protocol: sasl_plaintext\n"
                          "    sasl_mechanism: scram-sha-256\n    sasl_plain_username: u\n"
                          "    sasl_plain_password: p\n    group_id: from-client\n"
                          "    acks: 1\n", "edgestream.yml")
    with caplog.at_level(logging.WARNING):
        s = load_settings(cfg, env={}, facility_file=tmp_path / "none.yml")
    assert s.kafka.client == {"security_protocol": "SASL_PLAINTEXT",
                              "sasl_mechanism": "SCRAM-SHA-256",
                              "sasl_plain_username": "u", "sasl_plain_password": "p"}
    assert s.kafka.group_id == "from-client"
    assert "acks not applied: 1: edgestream's producer keeps acks=all" in caplog.text
    cfg.write_text("kafka:\n  client:\n    security_protocol: tls\n")
    with pytest.raises(SettingsError, match=r"security_protocol='tls': expected PLAINTEXT"):
        load_settings(cfg, env={}, facility_file=tmp_path / "none.yml")
