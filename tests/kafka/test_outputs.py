"""Output settings are checked when the service starts, not once per failing message."""

import pytest

from edgestream.config.settings import KafkaSettings, SettingsError
from edgestream.doors.kafka.service import check_outputs


def test_the_default_outputs_pass():
    check_outputs(KafkaSettings())


@pytest.mark.parametrize(("key", "value", "says"), [
    ("annotations_topic", "{beamline}.xas annotations", "topic name"),
    ("derived_topic", "{beamline}/derived", "topic name"),
    ("dead_letter_topic", "{beamline}.{station}.dlq", "only {beamline}"),
    ("annotations_topic", "x" * 250, "topic name"),
    ("max_message_bytes", 1000, "at least 65536"),
])
def test_outputs_that_could_only_fail_later_are_refused(key, value, says):
    k = KafkaSettings()
    setattr(k, key, value)
    with pytest.raises(SettingsError, match=f"kafka.{key}") as err:
        check_outputs(k)
    assert says in str(err.value)
