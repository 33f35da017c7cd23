"""``python -m s6nf.agent.p4rt`` serves until SIGTERM."""

import signal
import subprocess
import sys

from p4.v1 import p4runtime_pb2

from tests.p4rt_client import KS, Client


def test_module_entry_point_serves_and_stops_on_sigterm():
    process = subprocess.Popen(
        [sys.executable, "-m", "s6nf.agent.p4rt", "--address", "127.0.0.1:0", "--preloaded"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        address = banner.rsplit(" ", 1)[-1].strip()
        client = Client(address)
        try:
            assert client.arbitrate((0, 1)).status.code == 0
            assert client.read_table(KS.id) == []
            reply = client.stub.Capabilities(p4runtime_pb2.CapabilitiesRequest(), timeout=5)
            assert reply.p4runtime_api_version
        finally:
            client.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
