"""What the browser tests share: the examples/ pages served from an origin of their own (as a
client app would host them), headless Chromium through selenium, and one line per check."""

import atexit
import functools
import http.server
import os
import shutil
import tempfile
import threading

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")


class Checks:
    """Prints one line per check and the closing 'NAME: N passed, N failed' line."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def __call__(self, name, condition, detail=""):
        if condition:
            self.passed += 1
        else:
            self.failed += 1
        print(f"{'ok   ' if condition else 'FAIL '} {name} {'' if condition else detail}", flush=True)
        return condition

    def close(self, name):
        print(f"{name}: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve_examples():
    """examples/ over HTTP on EXAMPLES_PORT, the port the bucket's CORS rule names
    (scripts/test.sh picks it)."""
    handler = functools.partial(QuietHandler, directory=EXAMPLES)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["EXAMPLES_PORT"])), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def browser(*extra_flags, width=1280, height=1000):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    # The profile is of no use after the run (removed at exit, after the driver quit).
    profile = tempfile.mkdtemp(prefix="plugs-media-chromium-")
    atexit.register(shutil.rmtree, profile, ignore_errors=True)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--window-size={width},{height}",
                 f"--user-data-dir={profile}", *extra_flags):
        options.add_argument(flag)
    # The page's console, for a failing test to show.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
