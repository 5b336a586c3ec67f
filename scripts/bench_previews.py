#!/usr/bin/env python3
"""The preview benchmark, against the fastest there is, in one run on the same files:

1. Rendering: `shared::preview::render` in-process (the `render-preview` binary of the bench
   crate) against libvips making the same preview (the same box, JPEG at the same quality,
   metadata stripped, EXIF orientation applied), from a 12 MP and a 24 MP JPEG and a 12 MP PNG
   (scripts/photos.py: Pillow's pixels, exiftool's EXIF): libvips in-process through pyvips,
   and `vipsthumbnail` as a process with its start-up (measured on a 1-pixel JPEG)
   subtracted. Peak RSS is GNU time's maximum resident set size of a process making one
   preview: `render-preview` and `vipsthumbnail`.
2. Latency of a preview URL through `cargo lambda watch` (API_URL): the first request (the
   function renders and stores the variant, then answers 302) and a cached one (the variant
   exists: 302 at once), beside the download redirect of the same item (authorisation, the
   row, a presigned GET: the floor), on one kept-alive connection, alternating.

Writes a Markdown section (--out) that scripts/bench.sh appends to bench/RESULTS.md. With
--smoke, a few iterations of every path (scripts/test.sh: the harness cannot rot).
Environment for part 2: API_URL, PREVIEW_EVENT_ID, PREVIEW_TOKEN.
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import pyvips

import photos

# name: (displayed width, height, format); the three originals.
ORIGINALS = {
    "12mp.jpg": (4000, 3000),
    "24mp.jpg": (6000, 4000),
    "12mp.png": (4000, 3000),
}
SMOKE_ORIGINALS = {"small.jpg": (800, 600), "small.png": (800, 600)}
# The previews' boxes and JPEG quality, as shared::preview has them (render-preview prints
# the size it made; a mismatch fails the run).
EDGES = {"thumb": 320, "medium": 1280}
JPEG_QUALITY = 80
TARGET_TIME = {"thumb": 1.0, "medium": 1.3}
TARGET_CACHED = 1.2


def percentile(values, p):
    """Nearest rank, as bench/src/stats.rs: every number reported is one observed."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * p // 100)))
    return ordered[int(rank) - 1]


def peak_rss_kib(command):
    """GNU time's maximum resident set size of `command`, in KiB."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *command], check=True,
                       stdout=subprocess.DEVNULL)
        return int(out.read().strip().splitlines()[-1])


def wall_ms(command):
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def vips_command(original, size, out):
    # `>`: only ever down, as ours (vipsthumbnail enlarges a smaller original by default).
    return ["vipsthumbnail", original, "--size", f"{EDGES[size]}x{EDGES[size]}>", "-o", f"{out}[Q={JPEG_QUALITY},strip]"]


def ours(render, original, size, iterations, out):
    result = subprocess.run([render, original, size, str(iterations), out], check=True,
                            capture_output=True, text=True)
    return json.loads(result.stdout)


def libvips_in_process(data, size):
    """libvips in this process (pyvips): the same preview from bytes in memory; (ms, bytes)."""
    start = time.perf_counter()
    image = pyvips.Image.thumbnail_buffer(data, EDGES[size], size="down")
    out = image.jpegsave_buffer(Q=JPEG_QUALITY, strip=True)
    return (time.perf_counter() - start) * 1000, out


def pixel_size(path):
    from PIL import Image
    with Image.open(path) as img:
        return img.size


def rendering(render, folder, originals, rounds, per_round, rss_runs):
    """Rows of the rendering table, and vipsthumbnail's start-up (ms, KiB). Each round runs
    ours, libvips in-process and vipsthumbnail `per_round` times each, so the shared machine's
    load lands on all three alike."""
    pixel = os.path.join(folder, "pixel.jpg")
    photos.make_pixel(pixel)
    pixel_out = os.path.join(folder, "pixel-out.jpg")
    startup_ms = statistics.median(wall_ms(vips_command(pixel, "thumb", pixel_out)) for _ in range(rounds * per_round))
    startup_rss = statistics.median(peak_rss_kib(vips_command(pixel, "thumb", pixel_out)) for _ in range(rss_runs))
    rows = []
    for name in originals:
        original = os.path.join(folder, name)
        with open(original, "rb") as f:
            data = f.read()
        for size in EDGES:
            print(f"  {name} → {size}", file=sys.stderr, flush=True)
            our_out = os.path.join(folder, f"{name}.{size}.ours.jpg")
            vips_out = os.path.join(folder, f"{name}.{size}.vips.jpg")
            mine, in_process, cli = [], [], []
            for _ in range(rounds):
                made = ours(render, original, size, per_round, our_out)
                mine += made["samples_ms"]
                for _ in range(per_round):
                    took, vips_bytes = libvips_in_process(data, size)
                    in_process.append(took)
                cli += [wall_ms(vips_command(original, size, vips_out)) for _ in range(per_round)]
            rows.append({
                "file": name, "size": size,
                "ours_ms": statistics.median(mine),
                "vips_ms": statistics.median(in_process),
                "vips_cli_ms": statistics.median(cli) - startup_ms,
                "ours_rss": statistics.median(peak_rss_kib([render, original, size, "1"]) for _ in range(rss_runs)),
                "vips_rss": statistics.median(peak_rss_kib(vips_command(original, size, vips_out)) for _ in range(rss_runs)),
                "ours_bytes": made["bytes"], "ours_px": (made["width"], made["height"]),
                "vips_bytes": len(vips_bytes), "vips_px": pixel_size(vips_out),
            })
    return rows, startup_ms, startup_rss


class Api:
    """The API through cargo lambda watch, on one kept-alive connection."""

    def __init__(self, base, token):
        self.base = urllib.parse.urlsplit(base)
        self.token = token
        self.connection = http.client.HTTPConnection(self.base.hostname, self.base.port, timeout=300)

    def request(self, method, path, body=None, authorised=True, headers=None):
        headers = dict(headers or {})
        if authorised:
            headers["Authorization"] = f"Bearer {self.token}"
        start = time.perf_counter()
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        took = (time.perf_counter() - start) * 1000
        return response.status, data, took, response

    def json(self, method, path, body=None):
        status, data, _, _ = self.request(method, path, json.dumps(body).encode() if body is not None else None,
                                          headers={"Content-Type": "application/json"})
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {data[:300]!r}")
        return json.loads(data)

    def path_of(self, url):
        """The request path of a URL the API gave, which must be on the API itself."""
        parts = urllib.parse.urlsplit(url)
        if (parts.hostname, parts.port) != (self.base.hostname, self.base.port):
            raise RuntimeError(f"{url} is not served by {self.base.geturl()}")
        return parts.path + (f"?{parts.query}" if parts.query else "")


def direct_upload(api, event, path):
    """create-upload → PUT to S3 → complete-upload; the new media JSON."""
    with open(path, "rb") as f:
        content = f.read()
    ticket = api.json("POST", f"/api/v1/events/{event}/media/uploads", {
        "filename": os.path.basename(path), "content_type": "image/jpeg", "file_size": len(content)})
    put = urllib.request.Request(ticket["url"], data=content, method=ticket["method"],
                                 headers={k: v for k, v in ticket["headers"].items() if k.lower() != "content-length"})
    urllib.request.urlopen(put, timeout=120).read()
    return api.json("POST", f"/api/v1/events/{event}/media/uploads/{ticket['upload_id']}/complete")


def expect_redirect(status, data, what):
    if status != 302:
        raise RuntimeError(f"{what}: {status} {data[:300]!r}")


def redirected_download(api, event, folder):
    """An item that `download` answers with a redirect: over the default
    INLINE_DOWNLOAD_MAX_BYTES (4 MiB), which smaller files come back inline under. Only its
    row and key matter to the floor (a presign reads no byte), so a JPEG header and noise do."""
    path = os.path.join(folder, "floor.jpg")
    with open(path, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + os.urandom(5 * 1024 * 1024))
    return direct_upload(api, event, path)


def latency(api, event, original, folder, firsts, warm_up, measured):
    """First and cached preview requests and the download redirect, in ms."""
    floor_item = redirected_download(api, event, folder)
    # One unmeasured round first: cargo lambda watch builds and starts each function on its
    # first request, which is not what a preview's first request costs.
    spare = direct_upload(api, event, original)
    for size in EDGES:
        status, data, _, _ = api.request("GET", api.path_of(spare["previews"][size]), authorised=False)
        expect_redirect(status, data, f"warm-up {size}")
    status, data, _, _ = api.request("GET", f"/api/v1/events/{event}/media/{floor_item['id']}/download")
    expect_redirect(status, data, "warm-up download")
    items = [direct_upload(api, event, original) for _ in range(firsts)]
    first = {size: [] for size in EDGES}
    for item in items:
        for size in EDGES:
            status, data, took, _ = api.request("GET", api.path_of(item["previews"][size]), authorised=False)
            expect_redirect(status, data, f"first {size}")
            first[size].append(took)
    item = items[0]
    ops = {
        "cached thumb": lambda: api.request("GET", api.path_of(item["previews"]["thumb"]), authorised=False),
        "cached medium": lambda: api.request("GET", api.path_of(item["previews"]["medium"]), authorised=False),
        "download redirect": lambda: api.request("GET", f"/api/v1/events/{event}/media/{floor_item['id']}/download"),
    }
    samples = {name: [] for name in ops}
    names = list(ops)
    for i in range(warm_up + measured):
        for j in range(len(names)):
            name = names[(i + j) % len(names)]
            status, data, took, _ = ops[name]()
            expect_redirect(status, data, name)
            if i >= warm_up:
                samples[name].append(took)
    return {"first thumb": first["thumb"], "first medium": first["medium"], **samples}


def verdict(met):
    return "met" if met else "**missed**"


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def report(rows, startup_ms, startup_rss, rounds, per_round, latencies, latency_counts, smoke):
    out = ["", "## Previews: `shared::preview::render` against libvips' `vipsthumbnail`", ""]
    if smoke:
        out += ["**Smoke run**: small files, a few iterations; the numbers mean nothing.", ""]
    out += [
        f"Same files, same box (thumb {EDGES['thumb']} px, medium {EDGES['medium']} px on the long edge), "
        f"JPEG Q{JPEG_QUALITY} with no metadata, EXIF orientation applied. libvips {pyvips.version(0)}.{pyvips.version(1)}"
        f".{pyvips.version(2)} (Debian's libvips42, through pyvips {pyvips.__version__}), shrink-on-load (a JPEG is decoded "
        f"at 1/2, 1/4 or 1/8 by DCT scaling), its default {os.cpu_count()} threads; ours is one thread. Times: median of "
        f"{rounds} × {per_round} of each, interleaved by rounds: ours in-process (`render-preview`, the original's "
        "bytes in memory, as the function has them), libvips in-process (`thumbnail_buffer(size=down)` + "
        "`jpegsave_buffer(Q, strip)`, its operation cache off) and `vipsthumbnail FILE --size 'NxN>' -o out.jpg[Q=80,strip]` as a process "
        f"minus its start-up ({startup_ms:.1f} ms, median on a 1-pixel JPEG). Peak RSS: GNU time's maximum resident set "
        "of a process making one preview, start-up included: `render-preview` against `vipsthumbnail` "
        f"(which peaks at {mib(startup_rss)} on the 1-pixel JPEG).",
        "",
        "| original | preview | ours ms | libvips ms | ours / libvips | target | vipsthumbnail ms (− start-up) | ours peak RSS | vipsthumbnail peak RSS | target | ours bytes (px) | libvips bytes (px) |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in rows:
        ratio = r["ours_ms"] / max(r["vips_ms"], 1e-9)
        out.append(
            f"| {r['file']} | {r['size']} | {r['ours_ms']:.1f} | {r['vips_ms']:.1f} | {ratio:.2f}× "
            f"| ≤ {TARGET_TIME[r['size']]}×: {verdict(ratio <= TARGET_TIME[r['size']])} | {r['vips_cli_ms']:.1f} "
            f"| {mib(r['ours_rss'])} | {mib(r['vips_rss'])} | ≤ libvips: {verdict(r['ours_rss'] <= r['vips_rss'])} "
            f"| {r['ours_bytes']:,} ({r['ours_px'][0]}×{r['ours_px'][1]}) | {r['vips_bytes']:,} ({r['vips_px'][0]}×{r['vips_px'][1]}) |")
    if latencies:
        floor = percentile(latencies["download redirect"], 50)
        firsts, (warm_up, measured) = latency_counts
        out += [
            "",
            "## Preview URL latency through `cargo lambda watch`",
            "",
            f"The 12 MP JPEG uploaded {firsts} times; each copy's thumb and medium URL requested once (first: "
            f"render, store, 302), then {warm_up} warm-up + {measured} measured requests of one copy's cached "
            "thumb and medium and of the download redirect of a 5 MiB item (the floor: authorisation, the row, a "
            "presigned GET; files under 4 MiB are answered inline), "
            "alternating, on one kept-alive connection from Python. Ratio = p50 / the floor's p50.",
            "",
            "| request | n | p50 ms | p99 ms | ratio p50 | target |",
            "| --- | ---: | ---: | ---: | ---: | --- |",
        ]
        for name, values in latencies.items():
            p50 = percentile(values, 50)
            target = (f"≤ {TARGET_CACHED}×: {verdict(p50 / floor <= TARGET_CACHED)}"
                      if name.startswith("cached") else "–")
            out.append(f"| {name} | {len(values)} | {p50:.3f} | {percentile(values, 99):.3f} | {p50 / floor:.2f}× | {target} |")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--render", required=True, help="the render-preview binary (release for real numbers)")
    parser.add_argument("--out", help="write the Markdown section here")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--no-latency", action="store_true", help="rendering only (no API)")
    args = parser.parse_args()
    originals = SMOKE_ORIGINALS if args.smoke else ORIGINALS
    rounds, per_round, rss_runs = (1, 2, 1) if args.smoke else (7, 3, 3)
    firsts, warm_up, measured = (2, 2, 5) if args.smoke else (10, 20, 200)

    folder = tempfile.mkdtemp(prefix="plugs-media-bench-previews-")
    try:
        print("previews: making the originals", file=sys.stderr, flush=True)
        for name, (width, height) in originals.items():
            photos.make(os.path.join(folder, name), width, height)
        print("previews: ours against vipsthumbnail", file=sys.stderr, flush=True)
        rows, startup_ms, startup_rss = rendering(args.render, folder, originals, rounds, per_round, rss_runs)
        latencies = None
        if not args.no_latency:
            print("previews: preview URLs through cargo lambda watch", file=sys.stderr, flush=True)
            api = Api(os.environ["API_URL"], os.environ["PREVIEW_TOKEN"])
            latencies = latency(api, os.environ["PREVIEW_EVENT_ID"], os.path.join(folder, next(iter(originals))),
                                folder, firsts, warm_up, measured)
        section = report(rows, startup_ms, startup_rss, rounds, per_round, latencies, (firsts, (warm_up, measured)),
                         args.smoke)
    finally:
        subprocess.run(["rm", "-rf", folder], check=False)
    print(section)
    if args.out:
        with open(args.out, "w") as f:
            f.write(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
