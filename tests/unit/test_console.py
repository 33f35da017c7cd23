"""The console relays JSON calls and HTTP reads from its process to the services and back,
and turns a failed call into an error naming it (no testbed: a local server on loopback)."""

import asyncio
import http.server
import threading

import grpc
import pytest

from s6nf.rpc import RpcRefused, generic_handler
from s6nf.testbed.console import Console, ConsoleError


async def echo(request):
    return {"got": request}


async def refuse(request):
    raise RpcRefused(grpc.StatusCode.UNAVAILABLE, "a scale event is running; retry")


def test_calls_and_errors_cross_the_console():
    async def scenario():
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((generic_handler("t.S", {"Echo": echo,
                                                                   "Refuse": refuse}),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            with Console(None) as console:
                address = f"127.0.0.1:{port}"
                reply = await asyncio.to_thread(console.call, address, "t.S", "Echo", {"n": 7})
                assert reply == {"got": {"n": 7}}
                with pytest.raises(ConsoleError, match=r"t\.S\.Refuse at 127\.0\.0\.1:\d+: "
                                                       r"UNAVAILABLE: a scale event is running"):
                    await asyncio.to_thread(console.call, address, "t.S", "Refuse")
                again = await asyncio.to_thread(console.call, address, "t.S", "Echo")
                assert again == {"got": {}}
        finally:
            await server.stop(None)

    asyncio.run(scenario())


def test_http_reads_cross_the_console():
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"path {self.path}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            with Console(None) as console:
                port = httpd.server_address[1]
                assert console.http_get(f"http://127.0.0.1:{port}/metrics") == "path /metrics\n"
                with pytest.raises(ConsoleError, match="Connection refused"):
                    console.http_get("http://127.0.0.1:1/metrics")
        finally:
            httpd.shutdown()
