"""The NF example in docs/dso.md runs as printed."""

import asyncio
import re
import types
from pathlib import Path

from s6nf.agent.dso import FlowKey
from tests.unit.dso.cluster import cluster

DOC = Path(__file__).resolve().parents[3] / "docs" / "dso.md"
README = DOC.parents[1] / "README.md"


def example_code() -> str:
    match = re.search(r"<!-- example: source_monitor -->\n```python\n(.*?)```", DOC.read_text(),
                      re.S)
    assert match, "docs/dso.md lost its example block"
    return match.group(1)


def load_example() -> types.ModuleType:
    module = types.ModuleType("source_monitor")
    exec(compile(example_code(), str(DOC), "exec"), module.__dict__)
    return module


def test_the_readme_shows_the_same_example():
    assert f"```python\n{example_code()}```" in README.read_text()


def test_the_source_monitor_counts_flows_and_sources_across_agents():
    ex = load_example()

    async def main() -> None:
        async with cluster(2, ex.SCHEMA) as agents:
            monitors = [ex.SourceMonitor(a) for a in agents]
            flows = [FlowKey.of("10.0.0.7", f"10.9.0.{i}", 1000 + i, 80, 6) for i in range(20)]
            for n in range(60):
                flow = flows[n % len(flows)]
                monitor = monitors[n % 2]
                assert await monitor.on_packet(flow, 100) == "pass"
            source = ex.IpKey(flows[0].src)
            # A strict call from each sender comes after that sender's untether calls.
            total = 0
            for monitor in monitors:
                total += await monitor.sources.call(source, ex.SourceCounter.reset)
            assert total == 60
            for flow in flows:
                async with monitors[1].flows.access(flow, create=False) as state:
                    assert (state.packets, state.bytes) == (3, 300)

    asyncio.run(main())
