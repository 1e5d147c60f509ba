"""A failing cluster test shows the end of Kamailio's and the nodes' logs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    cluster = getattr(item, "funcargs", {}).get("cluster")
    if report.failed and cluster is not None and hasattr(cluster, "logs"):
        report.sections.append(("cluster logs", cluster.logs()))
        keep = os.environ.get("MCU_KEEP_CLUSTER_LOGS")  # a folder: the whole cluster folder is copied there
        if keep:
            shutil.copytree(cluster.dir, Path(keep) / item.name, dirs_exist_ok=True)
