import json
from pathlib import Path

from s6nf.keys import FlowKey

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "flow_hash.json").read_text())


def test_python_agrees_with_every_shared_vector():
    assert len(VECTORS["vectors"]) > 200
    for v in VECTORS["vectors"]:
        key = FlowKey.of(v["src"], v["dst"], v["sport"], v["dport"], v["proto"])
        assert key.canonical().hex() == v["canonical"]
        assert key.hash() == v["crc32"]
        assert key.bucket(VECTORS["buckets"]) == v["bucket_4096"]
        assert key.reversed().bucket(VECTORS["buckets"]) == v["bucket_4096"]
