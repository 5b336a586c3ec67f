#!/usr/bin/env python3
"""Uploads a real file through examples/direct-upload.html in headless Chromium, against the
local stack: the page calls create-upload, PUTs the bytes straight to S3 (which proves the
bucket's CORS set-up) and calls complete-upload. Then the row and the object are checked
through the API.

Reads API_URL, DEMO_EVENT_ID and DEMO_TOKEN from the environment (scripts/test.sh sets them).
Prints one line per check and a closing 'N passed, N failed' line.
"""

import atexit
import json
import os
import shutil
import sys
import tempfile
import urllib.parse
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from browser_support import Checks, browser, serve_examples

API = os.environ["API_URL"].rstrip("/")
EVENT = os.environ["DEMO_EVENT_ID"]
TOKEN = os.environ["DEMO_TOKEN"]
check = Checks()


def api_get(path):
    request = urllib.request.Request(API + path, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def main():
    # Bigger than API Gateway could carry to a Lambda function: the reason this page exists.
    size = 6 * 1024 * 1024
    content = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + os.urandom(size - 20)
    folder = tempfile.mkdtemp(prefix="plugs-media-browser-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = os.path.join(folder, "stage photo.jpg")
    with open(path, "wb") as f:
        f.write(content)

    server = serve_examples()
    page = (f"http://127.0.0.1:{server.server_address[1]}/direct-upload.html?"
            + urllib.parse.urlencode({"api": API, "token": TOKEN, "event": EVENT}))
    driver = browser()
    try:
        driver.get(page)
        driver.find_element(By.ID, "title").send_keys("From the browser")
        driver.find_element(By.ID, "file").send_keys(path)
        driver.find_element(By.ID, "upload").click()
        WebDriverWait(driver, 120).until(
            lambda d: d.find_element(By.ID, "status").text in ("Done.",)
            or "error" in d.find_element(By.ID, "status").get_attribute("class"))
        status = driver.find_element(By.ID, "status").text
        check("the page completes the upload", status == "Done.", status)
        progress = float(driver.find_element(By.ID, "progress").get_attribute("value"))
        check("the progress bar reached the end", progress == 1.0, progress)
        shown = driver.find_element(By.ID, "result").text
    finally:
        driver.quit()
        server.shutdown()

    media = json.loads(shown) if shown.startswith("{") else {}
    check("the page shows the media JSON", media.get("file_size") == size and media.get("file_type") == "image/jpeg", shown[:300])
    row = api_get(f"/api/v1/events/{EVENT}/media/{media['id']}") if media else {}
    check("the row is there", row.get("title") == "From the browser" and row.get("s3_key") == media.get("s3_key"), row)
    stored = b""
    if media:
        link = api_get(f"/api/v1/events/{EVENT}/media/{media['id']}/download?redirect=false")
        with urllib.request.urlopen(link["url"], timeout=30) as response:
            stored = response.read()
    check("the object holds the file byte for byte", stored == content, len(stored))

    return check.close("browser")


if __name__ == "__main__":
    sys.exit(main())
