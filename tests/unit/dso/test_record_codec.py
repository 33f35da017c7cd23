"""Records kept in Python storage move between agents as their C bytes (RecordCodec)."""

import asyncio

from s6nf.agent.dso import Schema, SwMap
from s6nf.agent.dso.ebpf_storage import RecordCodec
from s6nf.agent.structs import FlowStatsRecord
from tests.unit.dso.cluster import cluster, key_homed_at

FLOWS = SwMap(7, "flows", FlowStatsRecord, codec=RecordCodec(FlowStatsRecord))


def test_python_held_records_move_as_c_bytes():
    codec = RecordCodec(FlowStatsRecord)
    record = FlowStatsRecord(packets=3, bytes=180, tcp_flags=0x12)
    assert codec.to_bytes(record) == record.to_bytes()
    assert codec.from_bytes(record.to_bytes()) == record

    async def main() -> None:
        async with cluster(2, Schema([FLOWS])) as (a0, a1):
            key = key_homed_at(a0, 0)
            async with a0.sw(FLOWS).access(key) as stats:
                stats.packets, stats.bytes = 3, 180
            async with a1.sw(FLOWS).access(key, create=False) as stats:
                assert (stats.packets, stats.bytes) == (3, 180)
                stats.packets += 1
            async with a0.sw(FLOWS).access(key, create=False) as stats:
                assert stats == FlowStatsRecord(packets=4, bytes=180)

    asyncio.run(main())
