"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe): the standard
library suffices, no WebDriver or browser download. Messages are JSON, each ended by a NUL byte; the browser
reads commands from its fd 3 and answers on its fd 4."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any


class BrowserError(RuntimeError):
    pass


class Chromium:
    def __init__(
        self, executable: str, profile: Path, width: int = 1000, height: int = 1400, stderr: Any = subprocess.DEVNULL
    ) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # the shell puts the pipe ends on fds 3 and 4, where Chromium expects them
        r, w = to_browser_r, from_browser_w  # either may be 3 or 4 already: park them high first
        relay = f'exec "$@" 200<&{r} 201>&{w} {r}<&- {w}>&- 3<&200 4>&201 200<&- 201>&-'
        self.process = subprocess.Popen(
            [
                "bash",
                "-c",
                relay,
                "sh",
                executable,
                "--headless",
                "--no-sandbox",  # root in CI; the page is our own
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.session = ""
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}, False)[
            "sessionId"
        ]
        self.send("Page.enable")

    def send(self, method: str, params: dict[str, Any] | None = None, session: bool = True, timeout: float = 30):
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            for raw in self._messages(deadline, method):
                answer = json.loads(raw)
                if answer.get("id") == self._next_id:
                    if "error" in answer:
                        raise BrowserError(f"{method}: {answer['error']}")
                    return answer["result"]

    def _messages(self, deadline: float, method: str) -> list[bytes]:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.process.poll() is not None:
            raise BrowserError(f"{method}: no answer from Chromium (exit {self.process.poll()})")
        ready, _, _ = select.select([self._from_browser], [], [], min(remaining, 1.0))
        if ready:
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"{method}: Chromium closed its pipe")
            self._buffer += chunk
        *complete, self._buffer = self._buffer.split(b"\0")
        return complete

    def evaluate(self, expression: str) -> Any:
        """The expression's value (promises awaited), as JSON."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> Any:
        """Poll until the expression is truthy; its value. Bounded: fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except BrowserError:
                value = None  # the page is navigating
            if value:
                return value
            time.sleep(0.2)
        raise BrowserError(f"timed out waiting for {expression}")

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        with contextlib.suppress(BrowserError, OSError):
            self.send("Browser.close", session=False, timeout=5)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
