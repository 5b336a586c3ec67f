#!/usr/bin/env python3
"""examples/uppy-upload.html (real Uppy, from examples/node_modules) in headless Chromium,
against the local stack.

Chromium sends every request through scripts/counting_proxy.py, a forward proxy that counts
the UploadPart requests reaching S3 and slows part bodies to PART_RATE, so that parts are
still in flight when the test acts:
1. A small file goes up in one presigned PUT (getUploadParameters, then complete-upload).
2. A 64 MiB file goes up as a multipart upload in 5 MiB parts. With parts stored and others in
   flight, the test clicks the Dashboard's pause button, waits until nothing moves and asks S3
   which parts it holds; then it clicks resume, and S3 refuses connections for a moment from
   the first resumed part on, so Uppy's retries carry the parts it refused.
   Asserted: after the resume exactly the parts S3 did not hold reach S3, each once; the
   object's MD5 is the file's; the media row and the list show it; the object is SSE-AES256;
   no multipart upload is left open.

Reads API_URL, DEMO_EVENT_ID, DEMO_TOKEN, EXAMPLES_PORT and the stack's AWS_* variables;
UPPY_SCREENSHOT=FILE.png saves the page as it looks while paused.
Prints one line per check, the part counts, and a closing 'N passed, N failed' line.
"""

import hashlib
import json
import os
import sys
import tempfile
import time
import urllib.parse

import boto3
from botocore.config import Config
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from browser_support import browser, serve_examples
from browser_test import API, EVENT, TOKEN, api_get, check
from counting_proxy import CountingProxy

MiB = 1024 * 1024
FILE_SIZE = 64 * MiB
PART_SIZE = 5 * MiB
PART_COUNT = -(-FILE_SIZE // PART_SIZE)
# Each part body crosses the proxy at this rate: about 1.3 s a part, so a pause finds parts
# in flight, and the whole upload stays within a few seconds.
PART_RATE = 4 * MiB
OUTAGE_SECONDS = 2.0
BUCKET = os.environ.get("S3_BUCKET_NAME", "plugs-bucket")
MP4_HEADER = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def s3_client():
    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
                        region_name=os.environ.get("AWS_REGION", "us-east-1"),
                        config=Config(s3={"addressing_style": "path"}))


def wait_until(what, condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"gave up waiting for {what} after {seconds} s")


def page_status(driver):
    element = driver.find_element(By.ID, "status")
    return element.text, "error" in (element.get_attribute("class") or "")


def no_error_shown(driver):
    text, failed = page_status(driver)
    if failed:
        raise RuntimeError(f"the page says: {text}")
    return True


def wait_for_the_page(driver, seconds):
    WebDriverWait(driver, seconds).until(lambda d: page_status(d)[0] == "Done." or page_status(d)[1])
    return page_status(driver)[0]


def open_page(driver, server):
    page = (f"http://127.0.0.1:{server.server_address[1]}/uppy-upload.html?"
            + urllib.parse.urlencode({"api": API, "token": TOKEN, "event": EVENT}))
    driver.get(page)
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "input.uppy-Dashboard-input"))


def add_file_and_upload(driver, path):
    driver.find_element(By.CSS_SELECTOR, "input.uppy-Dashboard-input").send_keys(path)
    WebDriverWait(driver, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".uppy-StatusBar-actionBtn--upload")).__getitem__(0).click()


def toggle_pause(driver):
    driver.find_element(By.CSS_SELECTOR, "button[data-cy=togglePauseResume]").click()


def recorded_media(driver):
    shown = driver.find_element(By.ID, "result").text
    return json.loads(shown) if shown.startswith("{") else {}


def write_file(directory, name, header, size):
    path = os.path.join(directory, name)
    digest = hashlib.md5()
    with open(path, "wb") as f:
        f.write(header)
        digest.update(header)
        left = size - len(header)
        while left:
            block = os.urandom(min(MiB, left))
            f.write(block)
            digest.update(block)
            left -= len(block)
    return path, digest.hexdigest()


def object_md5(s3, key):
    digest = hashlib.md5()
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"]
    for block in iter(lambda: body.read(MiB), b""):
        digest.update(block)
    return digest.hexdigest()


def show_console(driver):
    for entry in driver.get_log("browser")[-20:]:
        print(f"      console {entry['level']}: {entry['message'][:300]}")


def single_put(driver, server, proxy, directory):
    """A file under the page's multipart threshold: one presigned PUT, then complete-upload."""
    path, _ = write_file(directory, "poster.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00", MiB)
    open_page(driver, server)
    add_file_and_upload(driver, path)
    status = wait_for_the_page(driver, 60)
    check("a small file: the page completes the upload", status == "Done.", status)
    puts = [r for r in proxy.s3_requests() if r.method == "PUT"]
    check("a small file goes up in one PUT, not in parts",
          len(puts) == 1 and puts[0].part_number is None and puts[0].outcome == "stored", puts)
    media = recorded_media(driver).get("poster.jpg", {})
    row = api_get(f"/api/v1/events/{EVENT}/media/{media['id']}") if media else {}
    check("a small file: its media row is there", row.get("file_size") == MiB and row.get("file_type") == "image/jpeg", row)


def multipart_with_pause_and_outage(driver, server, proxy, directory, s3):
    path, md5 = write_file(directory, "keynote.mp4", MP4_HEADER, FILE_SIZE)
    open_page(driver, server)
    proxy.part_bytes_per_second = PART_RATE
    add_file_and_upload(driver, path)

    # Pause with parts stored and others part-way through.
    wait_until("stored parts and a part in flight", lambda: no_error_shown(driver) and len(proxy.stored_parts()) >= 3
               and any(r.outcome == "in-flight" and r.bytes_sent >= MiB for r in proxy.parts()), 90)
    toggle_pause(driver)
    wait_until("the parts in flight to end", lambda: all(r.outcome != "in-flight" for r in proxy.parts()), 30)
    quiet_since = time.monotonic()
    time.sleep(1.5)
    if os.environ.get("UPPY_SCREENSHOT"):  # the page while paused, e.g. for docs/
        driver.set_window_size(900, 1150)
        # The token shortened for the picture, then put back for the resume's calls.
        token = driver.execute_script("const t = document.getElementById('token'); const v = t.value;"
                                      " t.value = v.slice(0, 12) + '…'; window.scrollTo(0, 0); return v;")
        driver.save_screenshot(os.environ["UPPY_SCREENSHOT"])
        driver.execute_script("document.getElementById('token').value = arguments[0];", token)
    before = proxy.parts()
    check("while paused, no part goes up", not proxy.parts(since=quiet_since), proxy.parts(since=quiet_since))
    upload_id, key = before[0].upload_id, urllib.parse.unquote(before[0].path.split("/", 2)[2])
    held = {p["PartNumber"] for p in s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id).get("Parts", [])}
    missing = set(range(1, PART_COUNT + 1)) - held
    check("at the pause S3 holds some parts and lacks others", held and missing, (held, missing))

    # Resume; S3 refuses connections for a moment from the first resumed part on (Uppy
    # retries a part after 0, 1, 3 and 5 s).
    resumed_at = time.monotonic()
    proxy.refuse_from_next_part(OUTAGE_SECONDS)
    toggle_pause(driver)
    status = wait_for_the_page(driver, 120)
    check("a 64 MiB file: the page completes the multipart upload", status == "Done.", status)
    if status != "Done.":
        show_console(driver)

    after = proxy.parts(since=resumed_at)
    reached = sorted(r.part_number for r in after if r.outcome != "refused")
    refused = [r for r in after if r.outcome == "refused"]
    cut_off = [r for r in before if r.outcome == "aborted"]
    print(f"      parts: {PART_COUNT} of {PART_SIZE // MiB} MiB; before the pause {len(before)} PUTs "
          f"({len(before) - len(cut_off)} stored, {len(cut_off)} cut off by the pause); S3 held {len(held)}; "
          f"after the resume {len(reached)} PUTs reached S3 (parts {reached}), {len(refused)} refused during the outage")
    check("after the resume only the missing parts are sent, each once", reached == sorted(missing), (reached, sorted(missing)))
    check("no part S3 held is sent again", not held & set(reached), held & set(reached))
    check("S3 refused resumed parts for a moment and Uppy's retries carried them",
          refused and {r.part_number for r in refused} <= missing, refused)

    media = recorded_media(driver).get("keynote.mp4", {})
    check("the page shows the media JSON", media.get("file_size") == FILE_SIZE and media.get("file_type") == "video/mp4", media)
    if not media:
        return
    check("the object's MD5 is the file's", object_md5(s3, media["s3_key"]) == md5)
    head = s3.head_object(Bucket=BUCKET, Key=media["s3_key"])
    check("the object is encrypted with SSE-AES256", head.get("ServerSideEncryption") == "AES256", head.get("ServerSideEncryption"))
    row = api_get(f"/api/v1/events/{EVENT}/media/{media['id']}")
    check("the media row is there", row.get("file_size") == FILE_SIZE and row.get("s3_key") == media["s3_key"], row)
    listed = api_get(f"/api/v1/events/{EVENT}/media?limit=100")
    check("the list shows it", any(item.get("id") == media["id"] for item in listed), listed)
    open_uploads = [u for u in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) if u["UploadId"] == upload_id]
    check("no multipart upload is left open in S3", not open_uploads, open_uploads)


def main():
    s3 = s3_client()
    proxy = CountingProxy(os.environ["AWS_ENDPOINT_URL_S3"])
    server = serve_examples()
    directory = tempfile.mkdtemp(prefix="plugs-media-uppy-")
    # Loopback too goes through the proxy (Chromium bypasses it for loopback by default).
    driver = browser(f"--proxy-server={proxy.url}", "--proxy-bypass-list=<-loopback>")
    try:
        single_put(driver, server, proxy, directory)
        multipart_with_pause_and_outage(driver, server, proxy, directory, s3)
    except Exception as err:  # a timeout or a missing element: one failed check, and the console
        check("the test ran to its end", False, repr(err))
        show_console(driver)
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()
        proxy.shutdown()
        for name in os.listdir(directory):
            os.remove(os.path.join(directory, name))
        os.rmdir(directory)

    return check.close("uppy")


if __name__ == "__main__":
    sys.exit(main())
