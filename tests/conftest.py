import os

import pytest


def pytest_collection_modifyitems(config, items):
    """Root-only tests skip for a non-root developer, but never in CI, where they must run."""
    if os.geteuid() == 0:
        return
    if os.environ.get("CI"):
        raise pytest.UsageError("CI must run as root: the eBPF and testbed tests need it")
    skip = pytest.mark.skip(reason="needs root (eBPF, namespaces); CI runs these")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)
