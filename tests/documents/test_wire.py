import msgpack
import numpy as np
import pytest

from edgestream.documents.wire import decode, encode
from edgestream.errors import MalformedDocument, UnknownDocumentName


def test_round_trip_with_numpy_arrays():
    doc = {"uid": "e1", "data": {"spectrum": np.arange(5, dtype=np.float32)}}
    name, out = decode(encode("event", doc))
    assert name == "event"
    np.testing.assert_array_equal(out["data"]["spectrum"], np.arange(5, dtype=np.float32))


@pytest.mark.parametrize(
    "raw, error",
    [
        (b"\xc1garbage", MalformedDocument),
        (b"", MalformedDocument),
        (None, MalformedDocument),
        (msgpack.packb(["start"]), MalformedDocument),
        (msgpack.packb({"name": "start"}), MalformedDocument),
        (msgpack.packb(["start", [1, 2]]), MalformedDocument),
        (msgpack.packb(["resolution", {}]), UnknownDocumentName),
        (msgpack.packb([3, {}]), UnknownDocumentName),
    ],
)
def test_bad_bytes_raise_typed_errors(raw, error):
    with pytest.raises(error) as info:
        decode(raw)
    assert info.value.reason in ("malformed_document", "unknown_document_name")
