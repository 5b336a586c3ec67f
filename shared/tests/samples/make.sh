#!/usr/bin/env bash
# Regenerates the sample files of shared/tests/integration/analysis.rs (see README.md here).
# Needs ffmpeg (Debian bookworm's 5.1) and Pillow 12.0.0 (`pip install pillow==12.0.0`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
python=${PYTHON:-python3}
q=(-hide_banner -loglevel error -y)

# A 64×48 photo that a phone held upright would write: EXIF orientation 6 (turn 90° clockwise
# to display), so it displays 48×64.
"$python" - <<'PY'
from PIL import Image
img = Image.new("RGB", (64, 48), (200, 80, 40))
exif = Image.Exif()
exif[0x0112] = 6
img.save("orientation-6.jpg", quality=80, exif=exif.tobytes())
PY
ffmpeg "${q[@]}" -f lavfi -i testsrc2=size=40x30 -frames:v 1 still.png
ffmpeg "${q[@]}" -f lavfi -i testsrc2=size=34x22:rate=5 -t 1 anim.gif
ffmpeg "${q[@]}" -f lavfi -i testsrc2=size=50x20 -frames:v 1 -c:v libwebp still.webp
# 320×240, 2 s, with sound; no +faststart, so the moov box comes after the media data.
ffmpeg "${q[@]}" -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=frequency=440:duration=2 \
  -t 2 -c:v libx264 -b:v 1M -pix_fmt yuv420p -c:a aac -shortest moov-at-end.mp4
# Small enough for the corpus' 64 KiB upload limit: 64×48, 1 s, no sound, moov at the end.
ffmpeg "${q[@]}" -f lavfi -i testsrc2=size=64x48:rate=10 -t 1 -c:v libx264 -pix_fmt yuv420p small.mp4
# small.mp4 as a phone holding it upright would write it: the frames stay 64×48 and the track
# header's matrix turns them a quarter (ffprobe: rotation=90), so it displays 48×64.
ffmpeg "${q[@]}" -i small.mp4 -c copy -metadata:s:v:0 rotate=90 portrait.mp4
ffmpeg "${q[@]}" -f lavfi -i testsrc2=size=160x90:rate=25 -t 1.5 -c:v libvpx -b:v 200k clip.webm
ffmpeg "${q[@]}" -f lavfi -i sine=frequency=440:duration=1.5 -c:a libmp3lame -b:a 64k tone.mp3
ffmpeg "${q[@]}" -f lavfi -i sine=frequency=440:duration=1.5 -ar 8000 tone.wav
ffmpeg "${q[@]}" -f lavfi -i sine=frequency=440:duration=1.5 -c:a libvorbis tone.ogg
ffmpeg "${q[@]}" -f lavfi -i sine=frequency=440:duration=1.5 -c:a aac -b:a 32k tone.m4a
# The first half of the mp4 (its moov box cut off) and of the JPEG (its frame header kept,
# its scan cut): the mp4 cannot be analysed, the JPEG's headers still can.
head -c "$(( $(stat -c %s moov-at-end.mp4) / 2 ))" moov-at-end.mp4 > truncated.mp4
head -c 120 orientation-6.jpg > truncated.jpg

# Previews (shared/src/preview.rs): the photo that loses its metadata, and hostile images.
"$python" - <<'PY'
import struct, zlib
from PIL import Image, ImageDraw

# 800×600 as stored, orientation 6 (displays 600×800), with GPS, XMP and a comment that no
# preview may carry. The top-left quadrant is red: displayed, it is the top-right one.
img = Image.new("RGB", (800, 600), (30, 90, 200))
ImageDraw.Draw(img).rectangle([0, 0, 399, 299], fill=(220, 20, 20))
exif = Image.Exif()
exif[0x0112] = 6
exif[0x010F] = "PlugsPhone"
gps = exif.get_ifd(0x8825)
gps[1] = "N"; gps[2] = (48.0, 51.0, 24.0); gps[3] = "E"; gps[4] = (2.0, 21.0, 3.0)
xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description secret="xmp-secret"/></rdf:RDF></x:xmpmeta>'
img.save("gps-orientation-6.jpg", quality=85, exif=exif.tobytes(), xmp=xmp, comment=b"comment-secret")

# A decompression bomb: a valid PNG header declaring 100,000 × 100,000 pixels, then one
# small IDAT. Its frame would be 10 GB of grey; the file is under 100 bytes.
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
with open("bomb.png", "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))

# CMYK, as Photoshop writes it (Adobe marker, inverted): pure red ink-wise (0, 100%, 100%, 0).
Image.new("CMYK", (64, 48), (0, 255, 255, 0)).save("cmyk.jpg", quality=90)

# A photo cut in the middle of its scan: the frame header is there, the pixels are not all.
big = Image.new("RGB", (320, 240))
ImageDraw.Draw(big).ellipse([20, 20, 300, 220], fill=(250, 200, 0))
big.save("scan-cut.jpg.full", "JPEG", quality=90)
data = open("scan-cut.jpg.full", "rb").read()
open("truncated-scan.jpg", "wb").write(data[: len(data) // 2])

# A PNG whose pixel data is not zlib: its header is fine, its IDAT garbage.
ihdr = struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
with open("corrupt.png", "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"not zlib at all" * 4) + chunk(b"IEND", b""))

# A transparent PNG whose hidden colour is black: its preview must be white there.
Image.new("RGBA", (40, 30), (0, 0, 0, 0)).save("transparent.png")

# 16 bits per sample, RGB (colour type 2, bit depth 16): a red-to-blue ramp, 40×30.
rows = b"".join(
    b"\0" + b"".join(struct.pack(">HHH", 65535 - x * 1680, 0, x * 1680) for x in range(40))
    for _ in range(30)
)
ihdr = struct.pack(">IIBBBBB", 40, 30, 16, 2, 0, 0, 0)
with open("rgb16.png", "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))

open("drawing.svg", "w").write('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><circle cx="50" cy="50" r="40" fill="red"/></svg>\n')
PY
rm -f scan-cut.jpg.full
