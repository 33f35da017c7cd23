"""The JSON-over-gRPC control plane answers bad input with clear errors, over a real server."""

import asyncio

import grpc
import pytest

from s6nf.rpc import JsonClient, RpcError, RpcRefused, field, generic_handler


async def echo(request):
    return {"n": field(request, "n", int) + 1}


async def missing(request):
    raise LookupError("no such thing: 7")


async def busy(request):
    raise RpcRefused(grpc.StatusCode.UNAVAILABLE, "busy; retry")


def call(method, payload=None, raw=None):
    async def run():
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((generic_handler("t.S", {
            "Echo": echo, "Missing": missing, "Busy": busy}),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            if raw is not None:
                async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                    return await channel.unary_unary(f"/t.S/{method}")(raw, timeout=5)
            client = JsonClient(f"127.0.0.1:{port}", "t.S")
            try:
                return await client.call(method, payload)
            finally:
                await client.close()
        finally:
            await server.stop(None)

    return asyncio.run(run())


def test_a_good_call_round_trips():
    assert call("Echo", {"n": 1}) == {"n": 2}


@pytest.mark.parametrize(("payload", "message"), [({}, "missing field 'n'"),
                                                   ({"n": "1"}, "must be int"),
                                                   ({"n": True}, "must be int")])
def test_bad_fields_are_invalid_argument(payload, message):
    with pytest.raises(RpcError, match=message) as err:
        call("Echo", payload)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"[1, 2]", b"not json"])
def test_malformed_bytes_are_invalid_argument(raw):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        call("Echo", raw=raw)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_lookup_errors_and_refusals_keep_their_codes():
    with pytest.raises(RpcError, match="no such thing") as err:
        call("Missing")
    assert err.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(RpcError, match="busy") as err:
        call("Busy")
    assert err.value.code == grpc.StatusCode.UNAVAILABLE


def test_unknown_method_is_unimplemented():
    with pytest.raises(RpcError) as err:
        call("Nope")
    assert err.value.code == grpc.StatusCode.UNIMPLEMENTED
