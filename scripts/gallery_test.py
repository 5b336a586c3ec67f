#!/usr/bin/env python3
"""examples/gallery.html in headless Chromium against the local stack: the page uploads real
photos through the direct-upload flow, lists the event and shows the thumbs; then
- every thumb loads (naturalWidth > 0), and the tiles had their size before it did;
- the photo stored 4000×3000 with EXIF orientation 6 shows upright: its thumb and its medium
  preview are portrait (3000×4000's aspect), and the preview's top rows are the red band drawn
  along the displayed top;
- the previews' bytes carry no GPS and no EXIF at all, as exiftool reads them (and exiftool
  does find the GPS in the original, so the check can fail).
Saves screenshots and the previews it fetched under GALLERY_OUTPUT (default .local/gallery-test).

Reads API_URL, EXAMPLES_PORT, GALLERY_EVENT_ID and GALLERY_TOKEN (an event of its own: every
item of it must have a preview). Prints one line per check and a closing 'N passed, N failed'.
"""

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

import photos
from browser_support import Checks, browser, serve_examples

API = os.environ["API_URL"].rstrip("/")
EVENT = os.environ["GALLERY_EVENT_ID"]
TOKEN = os.environ["GALLERY_TOKEN"]
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUTPUT = os.environ.get("GALLERY_OUTPUT") or os.path.join(ROOT, ".local", "gallery-test")
# First requests render the previews (a debug build under test.sh): generous.
LOAD_SECONDS = 180
check = Checks()

# name: (displayed width, displayed height, EXIF orientation, GPS)
PHOTOS = {
    "upright phone photo.jpg": (3000, 4000, 6, True),
    "stage wide.jpg": (1600, 900, None, True),
    "poster.png": (900, 1350, None, False),
}


def make_photos(folder):
    paths = {}
    for name, (width, height, orientation, gps) in PHOTOS.items():
        paths[name] = os.path.join(folder, name)
        photos.make(paths[name], width, height, orientation, gps)
    return paths


def api_get(path):
    request = urllib.request.Request(API + path, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def fetch(url):
    """The bytes behind a URL, following redirects (a preview URL answers 302 to S3)."""
    with urllib.request.urlopen(url, timeout=LOAD_SECONDS) as response:
        return response.read()


def exiftool(path):
    out = subprocess.run(["exiftool", "-j", "-G", path], check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]


def gps_tags(tags):
    return sorted(key for key in tags if "GPS" in key)


def exif_tags(tags):
    return sorted(key for key in tags if key.split(":")[0] in ("EXIF", "XMP", "IPTC", "MakerNotes", "ICC_Profile"))


def tile_boxes(driver):
    """Each tile's media id, rendered box and thumb state, read in the page."""
    return driver.execute_script("""
        return [...document.querySelectorAll('#grid .tile')].map((tile) => {
          const box = tile.getBoundingClientRect(), img = tile.querySelector('img');
          return { id: tile.dataset.mediaId, x: box.x, y: box.y, w: box.width, h: box.height,
                   complete: img ? img.complete : true, natural: img ? [img.naturalWidth, img.naturalHeight] : null,
                   broken: tile.classList.contains('broken') };
        });""")


def band_colours(path):
    """Mean colour of the top and of the bottom 3 % of a picture's rows."""
    with Image.open(path) as img:
        rgb = img.convert("RGB")
        rows = max(1, rgb.height * 3 // 100)
        top = rgb.crop((0, 0, rgb.width, rows)).resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
        bottom = rgb.crop((0, rgb.height - rows, rgb.width, rgb.height)).resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
        return top, bottom


def near(colour, target, tolerance=40):
    return all(abs(a - b) <= tolerance for a, b in zip(colour, target))


def browse(paths):
    """Uploads through the page and reads what it shows; returns the tiles' state."""
    server = serve_examples()
    page = (f"http://127.0.0.1:{server.server_address[1]}/gallery.html?"
            + urllib.parse.urlencode({"api": API, "token": TOKEN, "event": EVENT}))
    driver = browser(width=1280, height=1400)
    try:
        driver.get(page)
        WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "status").text.endswith("items."))
        check("the page lists the empty event", driver.find_element(By.ID, "status").text == "0 items.",
              driver.find_element(By.ID, "status").text)
        driver.find_element(By.ID, "files").send_keys("\n".join(paths.values()))
        driver.find_element(By.ID, "upload").click()
        WebDriverWait(driver, 300).until(
            lambda d: d.find_element(By.ID, "status").text == f"{len(paths)} items."
            or "error" in d.find_element(By.ID, "status").get_attribute("class"))
        status = driver.find_element(By.ID, "status").text
        check("the page uploads the photos and lists them", status == f"{len(paths)} items.", status)
        # Read at once: the first requests for previews take a while, so most thumbs are
        # still loading; their boxes must already be what they end up as.
        before = tile_boxes(driver)
        started = time.monotonic()
        WebDriverWait(driver, LOAD_SECONDS).until(lambda d: all(t["complete"] for t in tile_boxes(d)))
        loaded_in = time.monotonic() - started
        after = tile_boxes(driver)
        print(f"      thumbs complete {loaded_in:.1f} s after the listing "
              f"({sum(not t['complete'] for t in before)} of {len(before)} were still loading at first)")
        check("every tile kept the box it had before its thumb loaded",
              [(t["id"], round(t["x"]), round(t["y"]), round(t["w"]), round(t["h"])) for t in before]
              == [(t["id"], round(t["x"]), round(t["y"]), round(t["w"]), round(t["h"])) for t in after],
              json.dumps({"before": before, "after": after}))
        os.makedirs(OUTPUT, exist_ok=True)
        driver.save_screenshot(os.path.join(OUTPUT, "gallery.png"))

        media = {m["id"]: m for m in api_get(f"/api/v1/events/{EVENT}/media")}
        rotated = next((m for m in media.values() if (m["width"], m["height"]) == (3000, 4000)), None)
        opened = None
        if rotated:
            driver.find_element(By.CSS_SELECTOR, f'.tile[data-media-id="{rotated["id"]}"]').click()
            WebDriverWait(driver, LOAD_SECONDS).until(lambda d: d.execute_script(
                "const i = document.getElementById('medium'); return i.complete && i.naturalWidth > 0 || !document.getElementById('viewer').open"))
            opened = driver.execute_script("""
                const i = document.getElementById('medium');
                return { open: document.getElementById('viewer').open, src: i.src,
                         natural: [i.naturalWidth, i.naturalHeight] };""")
            driver.save_screenshot(os.path.join(OUTPUT, "gallery-medium.png"))
        return media, after, rotated, opened
    finally:
        driver.quit()
        server.shutdown()


def check_previews_metadata(media, rotated):
    """exiftool on the original (GPS there) and on each preview of it (no GPS, no EXIF)."""
    link = api_get(f"/api/v1/events/{EVENT}/media/{rotated['id']}/download?redirect=false")
    original = os.path.join(OUTPUT, "original.jpg")
    with open(original, "wb") as f:
        f.write(fetch(link["url"]))
    tags = exiftool(original)
    check("exiftool finds GPS and orientation 6 in the uploaded original",
          gps_tags(tags) and tags.get("EXIF:Orientation") == "Rotate 90 CW", gps_tags(tags))
    for item in media.values():
        for size, url in (item.get("previews") or {}).items():
            path = os.path.join(OUTPUT, f"{item['id']}-{size}.preview")
            with open(path, "wb") as f:
                f.write(fetch(url))
            tags = exiftool(path)
            name = f"{size} of {item['file_type']} {item['width']}x{item['height']}"
            print(f"      {name}: {tags.get('File:MIMEType')} {tags.get('File:ImageWidth')}x{tags.get('File:ImageHeight')}, "
                  f"{os.path.getsize(path)} bytes")
            check(f"the {name} carries no GPS (exiftool)", not gps_tags(tags), gps_tags(tags))
            check(f"the {name} carries no EXIF, XMP, IPTC or ICC (exiftool)", not exif_tags(tags), exif_tags(tags))
            if item["id"] == rotated["id"]:
                top, bottom = band_colours(path)
                check(f"the rotated photo's {size} has the displayed top at its top (red over blue)",
                      near(top, photos.RED) and near(bottom, photos.BLUE), f"top {top}, bottom {bottom}")


def portrait_like(natural, width=3000, height=4000):
    """Whether a preview's pixel size has the photo's displayed aspect (to a pixel of rounding)."""
    w, h = natural
    return w > 0 and h > 0 and abs(w * height - h * width) <= max(width, height)


def main():
    folder = tempfile.mkdtemp(prefix="plugs-media-gallery-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    paths = make_photos(folder)
    media, tiles, rotated, opened = browse(paths)

    check("every item has thumb and medium preview URLs",
          all((m.get("previews") or {}).get("thumb") and (m.get("previews") or {}).get("medium") for m in media.values()),
          [m.get("previews") for m in media.values()])
    check("every thumb loads (naturalWidth > 0)",
          len(tiles) == len(PHOTOS) and all(t["natural"] and t["natural"][0] > 0 and not t["broken"] for t in tiles),
          tiles)
    check("each tile has its item's aspect ratio",
          all(abs(t["w"] / t["h"] - media[t["id"]]["width"] / media[t["id"]]["height"]) < 0.02 for t in tiles if t["h"]),
          [(t["w"], t["h"], media[t["id"]]["width"], media[t["id"]]["height"]) for t in tiles])
    check("the orientation-6 photo is listed as displayed, 3000x4000", rotated is not None,
          [(m["width"], m["height"]) for m in media.values()])
    if rotated:
        thumb = next((t["natural"] for t in tiles if t["id"] == rotated["id"]), None)
        check("its thumb shows upright: natural size portrait, 3:4", thumb and portrait_like(thumb) and max(thumb) <= 320, thumb)
        check("a click opens its medium preview, upright",
              opened and opened["open"] and portrait_like(opened["natural"]) and max(opened["natural"]) <= 1280
              and opened["src"] == (rotated.get("previews") or {}).get("medium"), opened)
        check_previews_metadata(media, rotated)
    print(f"      screenshots and previews under {os.path.relpath(OUTPUT, ROOT)}/")
    return check.close("gallery")


if __name__ == "__main__":
    sys.exit(main())
