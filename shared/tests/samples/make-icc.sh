#!/usr/bin/env bash
# Regenerates the colour-managed preview samples (see README.md here): a real photograph turned
# into Adobe RGB (1998) by libvips, with the profile embedded, and libvips' own conversion of
# it back to sRGB as the reference the preview must match. Needs libvips-tools 8.14 (Debian
# bookworm) and Pillow 12.0.0, and, unpacked anywhere (`apt-get download` + `dpkg -x`), the
# Debian packages colord-data 1.4.6-2.2 (the profile) and plasma-workspace-wallpapers
# 4:5.27.5-2 (the photo): ROOT=/where/they/are/unpacked ./make-icc.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
python=${PYTHON:-python3}
root=${ROOT:?the folder colord-data and plasma-workspace-wallpapers are unpacked in}
adobe=$root/usr/share/color/icc/colord/AdobeRGB1998.icc
photo=$root/usr/share/wallpapers/ColorfulCups/contents/images/2560x1600.jpg
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

vips thumbnail "$photo" "$work/small.v" 128
vips icc_transform "$work/small.v" "$work/adobe.v" "$adobe" --input-profile srgb --intent relative
vips copy "$work/adobe.v" "$work/adobe-plain.png[strip]"
# Only the pixels and the profile: no EXIF or XMP of the camera.
"$python" - "$work/adobe-plain.png" "$adobe" <<'PY'
import sys
from PIL import Image
img = Image.open(sys.argv[1])
img.load()
profile = open(sys.argv[2], "rb").read()
img.save("adobe-rgb.png", icc_profile=profile, optimize=True)
img.save("adobe-rgb.jpg", icc_profile=profile, quality=95, subsampling=0)
PY
vips icc_transform adobe-rgb.png "$work/reference.v" srgb --intent relative --embedded
vips copy "$work/reference.v" "adobe-rgb.srgb.png[strip]"
vips icc_transform adobe-rgb.jpg "$work/reference-jpeg.v" srgb --intent relative --embedded
vips copy "$work/reference-jpeg.v" "adobe-rgb.jpg.srgb.png[strip]"
