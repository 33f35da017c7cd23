import asyncio

import grpc
import pytest

from s6nf.agent.dso import AgentConfig, CallTimeout, DsoAgent
from s6nf.keyspace import initial
from tests.unit.dso.cluster import key_homed_at
from tests.unit.dso.test_agent_basics import FLOWS, SCHEMA


async def silent_server() -> tuple[object, int]:
    """A peer that accepts the state channel and never answers."""

    async def swallow(requests, context) -> None:
        async for _ in requests:
            pass

    handler = grpc.method_handlers_generic_handler(
        "s6nf.dso.StateChannel", {"Stream": grpc.stream_stream_rpc_method_handler(swallow)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


def test_a_peer_that_never_answers_times_out_the_call():
    async def main() -> None:
        server, port = await silent_server()
        ks = initial([0, 1], 64)
        async with DsoAgent(AgentConfig(0, call_timeout_s=0.3), SCHEMA, ks,
                            {1: f"127.0.0.1:{port}"}) as agent:
            await agent.start("127.0.0.1:0")
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            with pytest.raises(CallTimeout, match="to instance 1"):
                async with agent.sw(FLOWS).access(key_homed_at(agent, 1)):
                    pass
            assert loop.time() - t0 < 2
            async with agent.sw(FLOWS).access(key_homed_at(agent, 0)) as flow:
                flow.packets += 1
        await server.stop(0)  # type: ignore[attr-defined]

    asyncio.run(main())
