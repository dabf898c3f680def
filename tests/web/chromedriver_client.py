"""Just enough W3C WebDriver to drive Debian's headless Chromium through chromedriver.

Plain HTTP and JSON (``urllib``): no selenium, no browser download. ``find`` says why a
browser cannot run here (the tests skip with that reason).
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from edgestream_dev.procs import wait_until

# The probe's flags (env notes): no sandbox as root, no GPU, and no background networking,
# whose connections this machine's closed network refuses.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1400,1050"]


def find() -> tuple[str | None, str | None, str | None]:
    """(chromium, chromedriver, reason-if-missing)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver, None
    return chromium, driver, ("headless Chromium not installed (Debian packages chromium and "
                              "chromium-driver; .ci/run installs them)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One chromedriver process and one headless session; ``close`` ends both (by PID)."""

    def __init__(self, chromium: str, driver: str, timeout: float = 60.0) -> None:
        self.port = _free_port()
        self.profile = tempfile.mkdtemp(prefix="edgestream-chromium-")
        self.proc = subprocess.Popen([driver, f"--port={self.port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(self._driver_up, timeout, "chromedriver /status answer")
        except OSError:  # TimeoutError included
            self.proc.kill()
            raise
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium, "args": [*CHROMIUM_ARGS, f"--user-data-dir={self.profile}"]}}}}
        self.session = self._call("POST", "/session", caps, timeout=timeout)["sessionId"]

    def _driver_up(self) -> bool:
        """True once chromedriver answers; an exit of chromedriver raises its last error."""
        try:
            self._call("GET", "/status")
            return True
        except OSError:
            if self.proc.poll() is not None:
                raise
            return False

    def _call(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                     method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())["value"]

    def get(self, url: str) -> None:
        self._call("POST", f"/session/{self.session}/url", {"url": url})

    def js(self, script: str) -> Any:
        return self._call("POST", f"/session/{self.session}/execute/sync",
                          {"script": script, "args": []})

    def screenshot(self, path: Path) -> Path:
        png = base64.b64decode(self._call("GET", f"/session/{self.session}/screenshot"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return path

    def close(self) -> None:
        try:
            self._call("DELETE", f"/session/{self.session}", timeout=10)
        except OSError:
            pass
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            shutil.rmtree(self.profile, ignore_errors=True)
