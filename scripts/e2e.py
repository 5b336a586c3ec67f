#!/usr/bin/env python3
"""End-to-end run of the spec's flow against the real function binaries served by
`cargo lambda watch`, with curl, as a client would call them.

Reads API_URL, DEMO_EVENT_ID, DEMO_TOKEN, OTHER_EVENT_ID, OTHER_TOKEN and PLUGS_SCHEMA from
the environment (scripts/test.sh sets them). With API_LOG (the `cargo lambda watch` log), the
request metrics the binaries wrote during the run (CloudWatch EMF lines, shared::metrics) are
checked too: the format's rules, one line per answer, and the values of chosen requests,
found by their x-correlation-id. Prints one line per check and a closing 'N passed, N failed'
line; exits non-zero on any failure.
"""

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

API = os.environ["API_URL"].rstrip("/")
EVENT = os.environ["DEMO_EVENT_ID"]
TOKEN = os.environ["DEMO_TOKEN"]
OTHER_EVENT = os.environ["OTHER_EVENT_ID"]
OTHER_TOKEN = os.environ["OTHER_TOKEN"]
# The shape of The Plugs' schema the database was built in (scripts/lib.sh,
# prepare_demo_database): the seed era has no zones. Unset or `current`: zones.
SEED_ERA = os.environ.get("PLUGS_SCHEMA") == "seed"
WORK = tempfile.mkdtemp(prefix="plugs-media-e2e-")
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
API_LOG = os.environ.get("API_LOG")
# Only what the functions write from here on is this run's.
LOG_START = os.path.getsize(API_LOG) if API_LOG else 0

results = {"passed": 0, "failed": 0}

# Lambda refuses to return more than this many bytes of response JSON; `cargo lambda watch`
# does not, so every answer of the API is measured here (see lambda_payload_bound).
LAMBDA_RESPONSE_MAX_BYTES = 6 * 1024 * 1024 + 100
TEXT_TYPES = ("text", "application/json", "application/javascript", "application/xml", "application/yaml")
answers = {"measured": 0, "too_large": []}


def check(name, condition, detail=""):
    if condition:
        results["passed"] += 1
        print(f"ok    {name}")
    else:
        results["failed"] += 1
        print(f"FAIL  {name} {detail}")


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return {}

    def code(self):
        return self.json().get("error", {}).get("code") if isinstance(self.json(), dict) else None


def curl(*args, token=TOKEN, output=None):
    """Runs curl like the spec's examples; returns status, headers and body."""
    header_file = os.path.join(WORK, "headers")
    body_file = output or os.path.join(WORK, "body")
    command = ["curl", "-sS", "-D", header_file, "-o", body_file, "--max-time", "60"]
    if token is not None:
        command += ["-H", f"Authorization: Bearer {token}"]
    command += list(args)
    subprocess.run(command, check=True)
    headers, status = {}, 0
    with open(header_file, encoding="latin-1") as f:
        for line in f:
            line = line.strip()
            if line.startswith("HTTP/"):
                status, headers = int(line.split()[1]), {}
            elif ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
    with open(body_file, "rb") as f:
        body = f.read()
    reply = Reply(status, headers, body)
    if any(str(a).startswith(API + "/") for a in args) and "-L" not in args:
        measure(reply, args)
    return reply


def lambda_payload_bound(reply):
    """At least the size of the JSON the function's runtime posted for this answer: the body
    as lambda_http sends it (escaped text for text types, base64 otherwise) and the headers."""
    content_type = reply.headers.get("content-type", "")
    mime = content_type.split(";")[0].strip()
    if not content_type or content_type.startswith(TEXT_TYPES) or mime.endswith(("+xml", "+yaml", "+json")):
        body = len(json.dumps(reply.body.decode("utf-8", "replace"), ensure_ascii=False).encode())
    else:
        body = 4 * -(-len(reply.body) // 3) + 2
    skip = {"content-length", "date", "connection", "transfer-encoding"}
    headers = sum(len(json.dumps(k)) + len(json.dumps(v)) + 2 for k, v in reply.headers.items() if k not in skip)
    return body + headers


def measure(reply, args):
    answers["measured"] += 1
    size = lambda_payload_bound(reply)
    if size > LAMBDA_RESPONSE_MAX_BYTES:
        answers["too_large"].append((size, reply.status, [str(a) for a in args][-1]))


def write(name, data):
    path = os.path.join(WORK, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(range(256)) * 40
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
       b"\x00\x00\x00\x00\x00\x00\x00\x00IEND\xaeB`\x82")
media_url = f"{API}/api/v1/events/{EVENT}/media"

# --- the spec's upload example, as written ---------------------------------------------
photo = write("file.jpg", JPEG)
up = curl("-X", "POST", media_url, "-F", f"file=@{photo}", "-F", "title=Event Photo",
          "-F", "description=A great photo from the event", "-F", "tags=photo,event,memories")
media = up.json()
check("upload answers 201 with the spec's JSON", up.status == 201, up.body[:300])
check("upload JSON has every field of the spec",
      set(media) >= {"id", "event_id", "title", "description", "file_url", "s3_key", "file_type",
                     "file_size", "tags", "batch_id", "width", "height", "duration_ms",
                     "created_at", "updated_at"}, media)
check("a JPEG without a frame header is stored, its size and duration unknown (null)",
      (media.get("width"), media.get("height"), media.get("duration_ms")) == (None, None, None), media)
if SEED_ERA:
    check("the upload has no zone on The Plugs' seed-era schema (batch_id null)",
          "batch_id" in media and media["batch_id"] is None, media)
else:
    check("the upload has a zone of its own (The Plugs' current shape)",
          isinstance(media.get("batch_id"), str) and media["batch_id"] != media.get("id"), media)
check("upload records type, size and tags",
      (media.get("file_type"), media.get("file_size"), media.get("tags"))
      == ("image/jpeg", len(JPEG), ["photo", "event", "memories"]), media)
check("the key follows the spec's layout",
      str(media.get("s3_key", "")).startswith(f"events/{EVENT}/media/") and media["s3_key"].endswith(".jpg"))
check("every response carries a correlation id", "x-correlation-id" in up.headers, up.headers)
media_id = media.get("id", "missing")
item_url = f"{media_url}/{media_id}"

png = curl("-X", "POST", media_url, "-F", f"file=@{write('logo.png', PNG)}")
check("a second upload answers 201", png.status == 201, png.body[:300])
check("the PNG's size is read from its header (1×1)",
      (png.json().get("width"), png.json().get("height"), png.json().get("duration_ms")) == (1, 1, None),
      png.body[:300])

# --- list ---------------------------------------------------------------------------------
listing = curl("-X", "GET", media_url)
check("list answers 200 with both items, newest first",
      listing.status == 200 and [m["id"] for m in listing.json()] == [png.json().get("id"), media_id],
      listing.body[:300])
check("list sends X-Total-Count", listing.headers.get("x-total-count") == "2", listing.headers)
check("the last page has no next link", "link" not in listing.headers, listing.headers)
first_page = curl("-X", "GET", f"{media_url}?limit=1")
next_link = first_page.headers.get("link", "")
check("a page with items after it links the next page",
      next_link == f'</api/v1/events/{EVENT}/media?skip=1&limit=1>; rel="next"', first_page.headers)
if next_link.startswith("<") and ">" in next_link:
    second_page = curl("-X", "GET", API + next_link[1:next_link.index(">")])
    check("the next link leads to the rest, and ends there",
          [m["id"] for m in first_page.json() + second_page.json()] == [m["id"] for m in listing.json()]
          and "link" not in second_page.headers, second_page.headers)
filtered = curl("-X", "GET", f"{media_url}?file_type=image/jpeg&limit=10")
check("the spec's filtered list returns only the JPEG",
      filtered.status == 200 and [m["id"] for m in filtered.json()] == [media_id], filtered.body[:300])
bad_limit = curl("-X", "GET", f"{media_url}?limit=5000")
check("limit above 1000 is a 422 VALIDATION_ERROR",
      (bad_limit.status, bad_limit.code()) == (422, "VALIDATION_ERROR"), bad_limit.body)

# --- get, download, stream -------------------------------------------------------------
got = curl("-X", "GET", item_url)
check("get answers the same JSON", got.status == 200 and got.json() == media, got.body[:300])
downloaded = os.path.join(WORK, "downloaded_file.jpg")
dl = curl("-X", "GET", f"{item_url}/download", output=downloaded)
check("the spec's download writes the original bytes", dl.status == 200 and dl.body == JPEG, dl.status)
check("download is an attachment named after the upload",
      dl.headers.get("content-disposition", "").startswith('attachment; filename="file.jpg"'), dl.headers)
link = curl("-X", "GET", f"{item_url}/download?redirect=false")
url = link.json().get("url", "")
check("?redirect=false answers a presigned URL", link.status == 200 and "X-Amz-Signature=" in url, link.body)
fetched = curl(url, token=None)
check("the presigned URL serves the bytes", fetched.status == 200 and fetched.body == JPEG, fetched.status)
tampered = curl(url.replace("X-Amz-Expires=", "X-Amz-Expires=9"), token=None)
check("a tampered presigned URL is refused by S3", tampered.status == 403, tampered.status)
stream = curl("-X", "GET", f"{item_url}/stream")
check("stream answers 302 to a presigned URL",
      stream.status == 302 and "X-Amz-Signature=" in stream.headers.get("location", ""), stream.headers)
ranged = curl("-L", "-H", "Range: bytes=0-99", f"{item_url}/stream", output=os.path.join(WORK, "streamed_file.mp4"))
check("following the stream with a Range gets 206 and those bytes",
      ranged.status == 206 and ranged.body == JPEG[:100], ranged.status)

# --- refusals ------------------------------------------------------------------------------
no_token = curl("-X", "GET", media_url, token=None)
check("no token is a 401 with a Bearer challenge",
      no_token.status == 401 and no_token.headers.get("www-authenticate") == "Bearer", no_token.headers)
check("... and the error envelope", no_token.code() == "AUTHENTICATION_REQUIRED", no_token.body)
foreign = curl("-X", "GET", f"{API}/api/v1/events/{OTHER_EVENT}/media")
check("another user's event is 404 EVENT_NOT_FOUND", (foreign.status, foreign.code()) == (404, "EVENT_NOT_FOUND"), foreign.body)
intruder = curl("-X", "GET", f"{item_url}/download", token=OTHER_TOKEN)
check("another user cannot download the media", (intruder.status, intruder.code()) == (404, "EVENT_NOT_FOUND"), intruder.body)
bad_id = curl("-X", "GET", f"{API}/api/v1/events/not-a-uuid/media")
check("a non-UUID event id is 422", (bad_id.status, bad_id.code()) == (422, "VALIDATION_ERROR"), bad_id.body)
empty = curl("-X", "POST", media_url, "-F", f"file=@{write('empty.png', b'')}")
check("an empty file is 422 EMPTY_FILE", (empty.status, empty.code()) == (422, "EMPTY_FILE"), empty.body)
exe = curl("-X", "POST", media_url, "-F", f"file=@{write('photo.png', b'MZ' + bytes(200))}")
check("an executable named .png is 415", (exe.status, exe.code()) == (415, "UNSUPPORTED_MEDIA_TYPE"), exe.body)
big = curl("-X", "POST", media_url, "-F", f"file=@{write('big.jpg', JPEG[:20] + bytes(4_500_000))}")
check("a form upload too big for the function is 413 naming the direct upload",
      (big.status, big.code()) == (413, "FILE_TOO_LARGE") and b"/media/uploads" in big.body, big.body[:300])
huge = curl("-X", "POST", media_url, "-F", f"file=@{write('huge.jpg', JPEG[:20] + bytes(5 * 1024 * 1024))}")
check("a request over Lambda's 6 MiB event is 413 REQUEST_TOO_LARGE, as API Gateway refuses it",
      (huge.status, huge.code()) == (413, "REQUEST_TOO_LARGE") and b"/media/uploads" in huge.body, huge.body[:300])

# --- direct upload: create, PUT straight to S3, complete (the README's flow) --------------
video = JPEG[:20] + bytes(12 * 1024 * 1024 - 20)
video_path = write("keynote.jpg", video)
started = time.monotonic()
created = curl("-X", "POST", f"{media_url}/uploads", "-H", "Content-Type: application/json",
               "-d", json.dumps({"filename": "keynote.jpg", "content_type": "image/jpeg", "file_size": len(video),
                                 "title": "Keynote"}))
ticket = created.json()
check("create-upload answers 201 with a PUT ticket",
      created.status == 201 and ticket.get("method") == "PUT" and "url" in ticket, created.body[:300])
header_args = [arg for name, value in ticket.get("headers", {}).items() if name != "content-length"
               for arg in ("-H", f"{name}: {value}")]
put = curl("-X", "PUT", *header_args, "--upload-file", video_path, ticket.get("url", "http://invalid"), token=None)
check("S3 accepts the PUT with the ticket's headers", put.status == 200, put.body[:300])
finished = curl("-X", "POST", f"{media_url}/uploads/{ticket.get('upload_id')}/complete")
elapsed = time.monotonic() - started
check("complete-upload answers 201 with the media JSON",
      finished.status == 201 and finished.json().get("file_size") == len(video), finished.body[:300])
print(f"      12 MiB direct upload (create + PUT + complete): {elapsed:.2f} s")
again = curl("-X", "POST", f"{media_url}/uploads/{ticket.get('upload_id')}/complete")
check("a second complete answers 200 with the same media", again.status == 200 and again.json() == finished.json())
direct_dl = curl("-L", f"{media_url}/{finished.json().get('id')}/download", output=os.path.join(WORK, "keynote-back.jpg"))
check("the direct upload downloads byte for byte (redirect followed)", direct_dl.status == 200 and direct_dl.body == video,
      direct_dl.status)
too_big = curl("-X", "POST", f"{media_url}/uploads", "-H", "Content-Type: application/json",
               "-d", json.dumps({"filename": "huge.mp4", "content_type": "video/mp4", "file_size": 10 ** 9}))
check("a direct upload over MAX_FILE_SIZE is 413", (too_big.status, too_big.code()) == (413, "FILE_TOO_LARGE"), too_big.body)

# --- resumable upload: create, sign parts, PUT each part to S3, list, complete (the README's flow)
started = time.monotonic()
created = curl("-X", "POST", f"{media_url}/multipart", "-H", "Content-Type: application/json",
               "-d", json.dumps({"filename": "keynote-mp.jpg", "content_type": "image/jpeg",
                                 "file_size": len(video), "title": "Keynote, resumable"}))
upload = created.json()
check("create-multipart-upload answers 201 with the part size and count",
      created.status == 201 and upload.get("part_count") == 3 and upload.get("part_size") == 5 * 1024 * 1024,
      created.body[:300])
multipart_url = f"{media_url}/multipart/{upload.get('upload_id')}"
signed = curl("-X", "POST", f"{multipart_url}/parts", "-H", "Content-Type: application/json",
              "-d", json.dumps({"part_numbers": [1, 2, 3]}))
check("sign-multipart-parts answers a URL per part", signed.status == 200 and len(signed.json().get("parts", [])) == 3,
      signed.body[:300])
completed_parts = []
for part in signed.json().get("parts", []):
    number, size = part["part_number"], upload["part_size"]
    chunk = write(f"part-{number}", video[(number - 1) * size:number * size])
    sent = curl("-X", "PUT", "--upload-file", chunk, part["url"], token=None)
    etag = sent.headers.get("etag")
    check(f"S3 takes part {number} with its presigned URL", sent.status == 200 and etag, sent.body[:300])
    completed_parts.append({"part_number": number, "etag": etag})
listed = curl("-X", "GET", f"{multipart_url}/parts")
check("list-multipart-parts answers the three parts S3 holds",
      listed.status == 200 and [p["part_number"] for p in listed.json().get("parts", [])] == [1, 2, 3], listed.body[:300])
finished = curl("-X", "POST", f"{multipart_url}/complete", "-H", "Content-Type: application/json",
                "-d", json.dumps({"parts": completed_parts}))
elapsed = time.monotonic() - started
check("complete-multipart-upload answers 201 with the media JSON",
      finished.status == 201 and finished.json().get("file_size") == len(video)
      and finished.json().get("s3_key") == upload.get("key"), finished.body[:300])
print(f"      12 MiB resumable upload (create + sign + 3 PUTs + list + complete): {elapsed:.2f} s")
again = curl("-X", "POST", f"{multipart_url}/complete", "-H", "Content-Type: application/json",
             "-d", json.dumps({"parts": completed_parts}))
check("a second multipart complete answers 200 with the same media", again.status == 200 and again.json() == finished.json())
aborted = curl("-X", "POST", f"{media_url}/multipart", "-H", "Content-Type: application/json",
               "-d", json.dumps({"filename": "drop.mp4", "content_type": "video/mp4", "file_size": 10 ** 9}))
dropped = curl("-X", "DELETE", f"{media_url}/multipart/{aborted.json().get('upload_id')}")
check("abort-multipart-upload answers 204", (aborted.status, dropped.status) == (201, 204), dropped.body[:300])

# --- zones (albums): the grouped list, one zone, an edit, a delete ------------------------
logo = png.json()
zone_id = logo.get("batch_id") or logo.get("id")
zone_url = f"{media_url}/zones/{zone_id}"
grouped = curl("-X", "GET", f"{media_url}/grouped?file_type=image/png")
zones = grouped.json().get("zones", []) if grouped.status == 200 else []
check("grouped answers 200 with the PNG's zone (the route is not get-media's)",
      [z.get("zone_id") for z in zones] == [zone_id]
      and [f.get("id") for f in zones[0].get("media_files", [])] == [logo.get("id")], grouped.body[:300])
check("grouped counts the zones and files the filter matches",
      (grouped.json().get("total_zones"), grouped.json().get("total_files")) == (1, 1), grouped.body[:300])
one = curl("-X", "GET", zone_url)
check("get-zone answers the zone in the grouped shape",
      one.status == 200 and zones and one.json() == zones[0], one.body[:300])
edited = curl("-X", "PATCH", zone_url, "-H", "Content-Type: application/json",
              "-d", json.dumps({"title": "Logo", "tags": ["brand"], "client_version": 7}))
check("update-zone answers the edited zone (an unknown field ignored)",
      edited.status == 200
      and (edited.json().get("title"), edited.json().get("tags"), edited.json().get("file_count"))
      == ("Logo", ["brand"], 1), edited.body[:300])
member = curl("-X", "GET", f"{media_url}/{logo.get('id')}")
check("the zone's file shows the zone's new metadata",
      (member.json().get("title"), member.json().get("tags")) == ("Logo", ["brand"]), member.body[:300])
not_json = curl("-X", "PATCH", zone_url, "-H", "Content-Type: application/json", "-d", "{")
check("a PATCH body that is not JSON is 400 MALFORMED_REQUEST",
      (not_json.status, not_json.code()) == (400, "MALFORMED_REQUEST"), not_json.body)
zone_gone = curl("-X", "DELETE", zone_url)
check("delete-zone answers 204", zone_gone.status == 204, zone_gone.body)
again_zone = curl("-X", "GET", zone_url)
check("the deleted zone is 404 ZONE_NOT_FOUND",
      (again_zone.status, again_zone.code()) == (404, "ZONE_NOT_FOUND"), again_zone.body)
member_gone = curl("-X", "GET", f"{media_url}/{logo.get('id')}")
check("... and so is its file", (member_gone.status, member_gone.code()) == (404, "MEDIA_NOT_FOUND"),
      member_gone.body)
# --- albums: several files in one form, more added to the zone, a direct album ------------
album = curl("-X", "POST", media_url, "-F", f"files=@{photo}", "-F", f"files=@{write('two.png', PNG)}",
             "-F", f"files=@{write('nothing.png', b'')}", "-F", "title=Album", "-F", "tags=night")
batch = album.json()
check("several files answer 201 with the batch shape, the empty one in failed",
      album.status == 201 and (batch.get("total_successful"), batch.get("total_failed")) == (2, 1)
      and [f["error_type"] for f in batch.get("failed", [])] == ["EMPTY_FILE"], album.body[:300])
check("the stored files share one zone with the album's metadata (none on the seed era)",
      {m["batch_id"] for m in batch.get("successful", [])} == {batch.get("batch_id")}
      and (batch.get("batch_id") is None) == SEED_ERA
      and all(m["title"] == "Album" for m in batch.get("successful", [])), album.body[:300])
if SEED_ERA:
    # The seed era's zone is one media item, which cannot take more files.
    first = batch["successful"][0]["id"] if batch.get("successful") else "00000000-0000-4000-8000-000000000000"
    refused = curl("-X", "POST", f"{media_url}/zones/{first}/files", "-F", f"files=@{photo}")
    check("add-zone-files is 409 ZONES_UNAVAILABLE on the seed era",
          (refused.status, refused.code()) == (409, "ZONES_UNAVAILABLE"), refused.body)
else:
    added = curl("-X", "POST", f"{media_url}/zones/{batch.get('batch_id')}/files", "-F", f"files=@{photo}")
    check("add-zone-files adds to the zone, in the batch shape",
          added.status == 201 and added.json().get("batch_id") == batch.get("batch_id")
          and added.json()["successful"][0]["title"] == "Album", added.body[:300])
    titled = curl("-X", "POST", f"{media_url}/zones/{batch.get('batch_id')}/files", "-F", f"files=@{photo}",
                  "-F", "title=Other")
    check("add-zone-files refuses metadata", (titled.status, titled.code()) == (422, "VALIDATION_ERROR"),
          titled.body)
announced = curl("-X", "POST", f"{media_url}/uploads", "-H", "Content-Type: application/json",
                 "-d", json.dumps({"files": [{"filename": f"{i}.jpg", "content_type": "image/jpeg",
                                              "file_size": len(JPEG)} for i in range(3)], "title": "Direct album"}))
tickets = announced.json().get("uploads", [])
check("create-upload with files answers one ticket per file", announced.status == 201 and len(tickets) == 3,
      announced.body[:300])
jpeg_path = write("album.jpg", JPEG)
completed = []
for t in tickets:
    args = [arg for name, value in t["headers"].items() if name != "content-length"
            for arg in ("-H", f"{name}: {value}")]
    curl("-X", "PUT", *args, "--upload-file", jpeg_path, t["url"], token=None)
    completed.append(curl("-X", "POST", f"{media_url}/uploads/{t['upload_id']}/complete"))
check("the album's completions land in the announced zone",
      [c.status for c in completed] == [201] * 3
      and {c.json().get("batch_id") for c in completed} == {announced.json().get("batch_id")}
      and (announced.json().get("batch_id") is None) == SEED_ERA, completed[-1].body[:300])

# --- previews: a signed URL in an <img src>, no token; read back with Pillow, not our code ----
SAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shared", "tests", "samples")
gps_photo = os.path.join(SAMPLES, "gps-orientation-6.jpg")
with_gps = curl("-X", "POST", media_url, "-F", f"file=@{gps_photo}")
previews = with_gps.json().get("previews") or {}
check("an image's media JSON carries thumb and medium preview URLs",
      with_gps.status == 201 and set(previews) == {"thumb", "medium"}
      and previews["thumb"].startswith(API + "/api/v1/media/"), with_gps.body[:400])
if previews:
    thumb_path = os.path.join(WORK, "thumb.jpg")
    thumb = curl("-L", previews["thumb"], token=None, output=thumb_path)
    check("the preview URL works without a token (302 to the JPEG)", thumb.status == 200, thumb.status)
    try:
        from PIL import Image
        with Image.open(thumb_path) as image:
            info_keys = set(image.info) - {"jfif", "jfif_version", "jfif_unit", "jfif_density"}
            check("Pillow reads the thumb: 240x320 (orientation applied), no EXIF, GPS, XMP or comment",
                  image.format == "JPEG" and image.size == (240, 320) and not dict(image.getexif())
                  and not info_keys, (image.format, image.size, dict(image.getexif()), info_keys))
    except ImportError:
        check("Pillow is installed for the preview check", False, "pip install pillow")
    unsigned = curl(previews["thumb"].split("?")[0], token=None)
    check("the preview path without its signature is 403 PREVIEW_SIGNATURE_INVALID",
          (unsigned.status, unsigned.code()) == (403, "PREVIEW_SIGNATURE_INVALID"), unsigned.body)

# --- delete ------------------------------------------------------------------------------
deleted = curl("-X", "DELETE", item_url)
check("the spec's delete answers 204", deleted.status == 204, deleted.body)
gone = curl("-X", "GET", item_url)
check("the deleted media is gone", (gone.status, gone.code()) == (404, "MEDIA_NOT_FOUND"), gone.body)
object_gone = curl(url, token=None)
check("its object is gone from the bucket", object_gone.status == 404, object_gone.status)

check(f"every answer fits Lambda's response limit ({answers['measured']} measured)",
      answers["measured"] > 20 and not answers["too_large"], answers["too_large"])


# --- request metrics (CloudWatch EMF) ------------------------------------------------------
CLOUDWATCH_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None",
}


def emf_problems(doc):
    """The EMF specification's rules `doc` breaks: CloudWatch Logs would extract no metric."""
    problems = []
    aws = doc.get("_aws", {})
    if not isinstance(aws.get("Timestamp"), int):
        problems.append("_aws.Timestamp is not an integer")
    for directive in aws.get("CloudWatchMetrics", []):
        if not directive.get("Namespace"):
            problems.append("no Namespace")
        for keys in directive.get("Dimensions", []):
            if len(keys) > 30:
                problems.append("more than 30 dimensions")
            problems += [f"dimension {k} is no string" for k in keys if not isinstance(doc.get(k), str)]
        metrics = directive.get("Metrics", [])
        names = [m.get("Name") for m in metrics]
        if not 0 < len(metrics) <= 100 or len(set(names)) != len(names):
            problems.append(f"metrics {names}")
        for m in metrics:
            value = doc.get(m.get("Name"))
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                problems.append(f"metric {m.get('Name')} has no number")
            if m.get("Unit", "None") not in CLOUDWATCH_UNITS:
                problems.append(f"metric {m.get('Name')} has unit {m.get('Unit')}")
    return problems


def this_runs_log():
    """The JSON objects the functions wrote to API_LOG during this run."""
    with open(API_LOG, "rb") as log:
        log.seek(LOG_START)
        lines = log.read().decode("utf-8", "replace").splitlines()
    objects = []
    for line in lines:
        # cargo lambda watch's own output ("Finished …") may run into a function's line.
        start = line.find('{"')
        if start >= 0:
            try:
                objects.append(json.loads(line[start:]))
            except ValueError:
                pass
    return objects


if API_LOG:
    # A line is written after the answer is ready; give the last ones a moment to land.
    time.sleep(1)
    logged = this_runs_log()
    metrics = [o for o in logged if "_aws" in o]
    answered = [o for o in logged if o.get("message") == "answered"]
    bad = [(emf_problems(m), m) for m in metrics if emf_problems(m)]
    check(f"every request metrics line keeps the EMF rules ({len(metrics)} lines)",
          len(metrics) > 20 and not bad, bad[:2])
    check("one metrics line per answer", len(metrics) == len(answered), (len(metrics), len(answered)))
    by_id = {m.get("CorrelationId"): m for m in metrics}

    def line_of(reply):
        return by_id.get(reply.headers.get("x-correlation-id"), {})

    missing = line_of(gone)
    check("the 404's line names its endpoint, class and code",
          (missing.get("Endpoint"), missing.get("Status"), missing.get("StatusClass"), missing.get("ErrorCode"),
           missing.get("Status4xx")) == ("get-media", 404, "4xx", "MEDIA_NOT_FOUND", 1), missing)
    redirect = line_of(stream)
    check("the stream redirect's line has 3xx and 0 bytes out",
          (redirect.get("Endpoint"), redirect.get("StatusClass"), redirect.get("BytesOut")) == ("stream-media", "3xx", 0),
          redirect)
    inline = line_of(dl)
    check("the inline download's line counts the file's bytes out",
          (inline.get("Endpoint"), inline.get("BytesOut"), inline.get("ErrorCode")) == ("download-media", len(JPEG), None),
          inline)
    check("requests that read the database report their pool wait",
          isinstance(inline.get("PoolWait"), (int, float)) and isinstance(missing.get("PoolWait"), (int, float)),
          (inline, missing))
    # The whole log, from the API's start: each function's first request is a cold start, and
    # so is the first of each further instance (`cargo lambda watch --concurrency 4`, as
    # Lambda starts containers), never the requests an instance serves after.
    with open(API_LOG, errors="replace") as log:
        every = [json.loads(line) for line in log if line.startswith("{") and '"_aws"' in line]
    firsts, colds = {}, {}
    for m in every:
        firsts.setdefault(m.get("Endpoint"), m)
        colds[m.get("Endpoint")] = colds.get(m.get("Endpoint"), 0) + m.get("ColdStart", 0)
    check("each function's first request is a cold start, its instances' later ones are not",
          firsts and all(f.get("ColdStart") == 1 for f in firsts.values())
          and all(1 <= c <= 4 for c in colds.values()) and sum(colds.values()) < len(every), colds)
    deleted_line = line_of(deleted)
    check("the delete's line is a 2xx with no error code",
          (deleted_line.get("Endpoint"), deleted_line.get("StatusClass"), deleted_line.get("Status5xx"),
           "ErrorCode" in deleted_line) == ("delete-media", "2xx", 0, False), deleted_line)

print(f"e2e: {results['passed']} passed, {results['failed']} failed")
sys.exit(1 if results["failed"] else 0)
