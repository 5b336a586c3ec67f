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
ffmpeg "${q[@]}" -f lavfi -i testsrc2=size=160x90:rate=25 -t 1.5 -c:v libvpx -b:v 200k clip.webm
ffmpeg "${q[@]}" -f lavfi -i sine=frequency=440:duration=1.5 -c:a libmp3lame -b:a 64k tone.mp3
ffmpeg "${q[@]}" -f lavfi -i sine=frequency=440:duration=1.5 -ar 8000 tone.wav
ffmpeg "${q[@]}" -f lavfi -i sine=frequency=440:duration=1.5 -c:a libvorbis tone.ogg
ffmpeg "${q[@]}" -f lavfi -i sine=frequency=440:duration=1.5 -c:a aac -b:a 32k tone.m4a
# The first half of the mp4 (its moov box cut off) and of the JPEG (its frame header kept,
# its scan cut): the mp4 cannot be analysed, the JPEG's headers still can.
head -c "$(( $(stat -c %s moov-at-end.mp4) / 2 ))" moov-at-end.mp4 > truncated.mp4
head -c 120 orientation-6.jpg > truncated.jpg
