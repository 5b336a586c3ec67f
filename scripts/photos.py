#!/usr/bin/env python3
"""Test photos made with real tools: Pillow draws the pixels and encodes them, exiftool writes
the EXIF (orientation, camera, GPS) as a phone would, so no EXIF byte is built by hand here.

Each photo is drawn as it should be *displayed*: a red band along its top edge and a blue one
along its bottom, so a check can tell an upright preview from a turned one. With an EXIF
orientation, the stored pixels are the displayed ones turned back (6: stored turned 90°
counter-clockwise, so a viewer turns them 90° clockwise), as a phone held upright stores them.

    python3 scripts/photos.py OUT.jpg WIDTH HEIGHT [--orientation 6] [--gps]
        (WIDTH×HEIGHT as displayed; the format follows the extension: .jpg or .png)

scripts/gallery_test.py and scripts/bench.sh make their photos with it.
"""

import argparse
import subprocess
import sys

from PIL import Image, ImageDraw, ImageFilter

# Where exiftool puts the test photos (a stage in Lisbon): asserted on the originals, so the
# check that previews carry no GPS can fail.
GPS = {"GPSLatitude": "38.7139", "GPSLatitudeRef": "N", "GPSLongitude": "9.1394", "GPSLongitudeRef": "W"}

RED = (220, 30, 30)
BLUE = (30, 60, 220)


def draw(width, height):
    """A busy, photo-like picture (gradients, shapes, grain) as it is meant to be seen."""
    grain = Image.effect_noise((width, height), 28)
    sky = Image.linear_gradient("L").resize((width, height))
    img = Image.merge("RGB", (sky, grain, Image.eval(sky, lambda v: 255 - v)))
    pen = ImageDraw.Draw(img)
    step = max(width, height) // 12
    for i in range(0, width + height, step):
        pen.ellipse((i - step, (i * 7) % height, i + step, (i * 7) % height + step),
                    fill=((i * 3) % 256, (i * 5) % 256, (i * 11) % 256))
    img = img.filter(ImageFilter.GaussianBlur(0.7))
    band = max(8, height // 12)
    pen = ImageDraw.Draw(img)
    pen.rectangle((0, 0, width, band), fill=RED)
    pen.rectangle((0, height - band, width, height), fill=BLUE)
    return img


def stored(displayed, orientation):
    """The pixels a camera stores for a photo shown as `displayed` under `orientation`."""
    if orientation in (None, 1):
        return displayed
    # Turning back what the viewer will turn: 6 is shown turned 90° clockwise, 8 counter-, 3 by 180°.
    angle = {3: 180, 6: 90, 8: -90}[orientation]
    return displayed.rotate(angle, expand=True)


def make(path, width, height, orientation=None, gps=False, quality=90):
    """Writes the photo; returns its stored (width, height)."""
    img = stored(draw(width, height), orientation)
    if path.lower().endswith(".png"):
        img.save(path, optimize=False, compress_level=6)
    else:
        img.save(path, quality=quality)
    tags = ["-Make=Plugs Test", "-Model=Stage Camera", "-DateTimeOriginal=2026:11:28 21:30:00"]
    if orientation:
        tags.append(f"-Orientation#={orientation}")
    if gps:
        tags += [f"-{name}={value}" for name, value in GPS.items()]
    if not path.lower().endswith(".png") or orientation or gps:
        subprocess.run(["exiftool", "-q", "-overwrite_original", *tags, path], check=True)
    return img.size


def make_pixel(path):
    """A 1-pixel JPEG: what vipsthumbnail's start-up is timed on."""
    Image.new("RGB", (1, 1), RED).save(path, quality=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("width", type=int)
    parser.add_argument("height", type=int)
    parser.add_argument("--orientation", type=int, choices=(1, 3, 6, 8))
    parser.add_argument("--gps", action="store_true")
    parser.add_argument("--quality", type=int, default=90)
    args = parser.parse_args()
    make(args.out, args.width, args.height, args.orientation, args.gps, args.quality)


if __name__ == "__main__":
    sys.exit(main())
