import urllib.request

from edgestream.metrics import Metrics
from edgestream_dev.tansu import free_port


def test_metrics_are_served_on_localhost_with_units_in_names():
    m = Metrics()
    m.documents.labels("event").inc(3)
    m.errors.labels("bad_spectrum").inc()
    port = free_port()
    m.serve(port)
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'edgestream_documents_consumed_total{name="event"} 3.0' in body
    assert 'edgestream_errors_total{reason="bad_spectrum"} 1.0' in body
    assert "edgestream_end_to_end_latency_seconds_bucket" in body
