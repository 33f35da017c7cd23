"""The agent control service's answers, on a real DsoAgent without a network peer."""

import asyncio

import grpc
import pytest

from s6nf.agent.control import AgentControl, key_space_to_json
from s6nf.agent.dso.agent import DsoAgent
from s6nf.agent.dso.config import AgentConfig
from s6nf.agent.dso.maps import Schema
from s6nf.keyspace import KeySpace
from s6nf.rpc import RpcRefused

BUCKETS = 16


def run(coro_fn):
    async def body():
        agent = DsoAgent(AgentConfig(3), Schema([]), KeySpace(0, (3,) * BUCKETS))
        try:
            return await coro_fn(AgentControl(agent))
        finally:
            await agent.close()

    return asyncio.run(body())


def ks(epoch, owner=3):
    return {"key_space": key_space_to_json(KeySpace(epoch, (owner,) * BUCKETS))}


def test_a_fresh_agent_adopts_then_follows_prepare_and_switch():
    async def body(control):
        assert (await control.adopt(ks(5, owner=1)))["epoch"] == 5
        await control.prepare(ks(6, owner=3))
        status = await control.switch({"epoch": 6})
        assert status["epoch"] == 6
        await control.wait_drained({"epoch": 5, "timeout_s": 2})
        await control.retire({"epoch": 5})
        return await control.status({})

    assert run(body)["holds_nothing"]


def test_prepare_out_of_order_is_failed_precondition():
    async def body(control):
        with pytest.raises(RpcRefused, match="does not follow") as err:
            await control.prepare(ks(4))
        assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(RpcRefused, match="not prepared"):
            await control.switch({"epoch": 1})

    run(body)


@pytest.mark.parametrize("bad", [{}, {"key_space": 3}, {"key_space": {"epoch": 1}},
                                 {"key_space": {"epoch": 1, "owners": [0, -1]}},
                                 {"key_space": {"epoch": 1, "owners": [0, 1, 2]}}])
def test_malformed_key_spaces_are_value_errors(bad):
    async def body(control):
        with pytest.raises(ValueError):
            await control.adopt(bad)

    run(body)


def test_adopt_refuses_a_different_bucket_count():
    async def body(control):
        with pytest.raises(ValueError, match="buckets"):
            await control.adopt({"key_space": key_space_to_json(KeySpace(2, (3,) * 32))})

    run(body)


def test_nf_queries_without_an_nf_are_failed_precondition():
    async def body(control):
        for query in (control.assets, control.alerts):
            with pytest.raises(RpcRefused, match="agent 3 runs no NF slow path") as err:
                await query({})
            assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION

    run(body)


def test_an_agent_holding_stale_objects_drops_them_to_adopt_a_later_epoch():
    from s6nf.agent.dso.maps import SwMap
    from tests.unit.dso.test_agent_basics import Flow

    flows = SwMap(1, "flows", Flow)

    async def body():
        agent = DsoAgent(AgentConfig(3), Schema([flows]), KeySpace(2, (3,) * BUCKETS))
        control = AgentControl(agent)
        try:
            async with agent.sw(flows).access(b"k"):
                pass
            assert not control.holds_nothing()
            with pytest.raises(RpcRefused, match="follows later epochs"):
                await control.adopt(ks(2, owner=1))
            status = await control.adopt(ks(4, owner=1))
            assert status["epoch"] == 4 and status["holds_nothing"]
        finally:
            await agent.close()

    asyncio.run(body())
