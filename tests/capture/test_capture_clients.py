"""The SDK as client code: standard library only, Python 3.10, and a plain script that dies
reporting through the hook into a real server (flushed at exit)."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from capture_helpers import REPO, events_of, wait_for_events

SRC = str(Path(__file__).parents[2] / "src")
PY310 = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10.*/bin/python")))


def interpreters() -> list[Any]:
    found: list[Any] = [pytest.param(sys.executable, id="this-python")]
    if PY310:
        found.append(pytest.param(PY310[-1], id="python3.10"))
    elif os.environ.get("CI"):
        found.append(pytest.param("python3.10-missing", id="python3.10"))
    return found


def run_isolated(python: str, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``code`` under ``python -I -S``: no site-packages at all, only ``src`` on the path."""
    prelude = f"import sys; sys.path.insert(0, {SRC!r})\n"
    return subprocess.run(
        [python, "-I", "-S", "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", ""), **env},
    )


@pytest.mark.parametrize("python", interpreters())
def test_the_sdk_needs_nothing_outside_the_standard_library(python: str) -> None:
    done = run_isolated(
        python,
        """
        import json
        before = set(sys.modules)
        import sentinel.capture as sdk
        from sentinel.capture import scrub, hook
        outside = sorted(
            m for m in set(sys.modules) - before
            if m.split(".")[0] not in sys.stdlib_module_names
            and not (m == "sentinel" or m.startswith("sentinel.capture"))
        )
        print(json.dumps({"outside": outside, "all": sorted(sdk.__all__),
                          "scrubbed": scrub("bob@example.com"), "hook": hook.is_installed()}))
        """,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["outside"] == []
    assert result["scrubbed"] == "[EMAIL]" and result["hook"] is False
    assert {"configure", "install_hook", "uninstall_hook", "SentinelMiddleware"} <= set(
        result["all"]
    )


@pytest.mark.parametrize("python", interpreters())
def test_a_plain_script_that_dies_reports_through_the_hook(python: str, server: Any) -> None:
    done = run_isolated(
        python,
        """
        import os, threading
        import sentinel.capture as sentinel_sdk

        sentinel_sdk.configure(api_key=os.environ["KEY"], github_repo="acme/shop",
                               gateway_url=os.environ["GATEWAY"], endpoint_label="nightly-job")
        sentinel_sdk.install_hook()

        def load_customers(path):
            raise FileNotFoundError(f"{path}: owner alice@example.com, ip 10.2.3.4")

        worker = threading.Thread(target=load_customers, args=("/data/a.csv",))
        worker.start()
        worker.join()
        rows = {"total": 0}
        print("average", 100 / rows["total"])
        """,
        KEY=server.key,
        GATEWAY=server.http_url,
    )
    assert done.returncode == 1
    assert "ZeroDivisionError: division by zero" in done.stderr  # the default hooks still ran
    assert "FileNotFoundError" in done.stderr
    found = wait_for_events(server, 2)
    assert sorted(i["exception_type"] for i in found) == ["FileNotFoundError", "ZeroDivisionError"]
    assert {i["github_repo"] for i in found} == {REPO}
    stored = [e for i in found for e in events_of(server, i["issue_id"])]
    assert {e["endpoint"] for e in stored} == {"nightly-job"}
    text = json.dumps(stored)
    assert "alice@example.com" not in text and "10.2.3.4" not in text and "[EMAIL]" in text


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX")
def test_a_forked_worker_reports_with_a_dispatcher_of_its_own(server: Any) -> None:
    done = run_isolated(
        sys.executable,
        """
        import os
        import sentinel.capture as sentinel_sdk

        sentinel_sdk.configure(api_key=os.environ["KEY"], github_repo="acme/shop",
                               gateway_url=os.environ["GATEWAY"])
        sentinel_sdk.capture_exception(KeyError("in the master"))
        assert sentinel_sdk.flush(10)
        child = os.fork()
        if child == 0:  # a pre-fork server's worker
            ok = sentinel_sdk.capture_exception(ValueError("in the worker"))
            os._exit(0 if ok and sentinel_sdk.flush(10) and sentinel_sdk.stats().sent == 1 else 1)
        assert os.waitpid(child, 0)[1] == 0
        """,
        KEY=server.key,
        GATEWAY=server.http_url,
    )
    assert done.returncode == 0, done.stderr
    found = wait_for_events(server, 2)
    assert sorted(i["exception_type"] for i in found) == ["KeyError", "ValueError"]
