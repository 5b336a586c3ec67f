#!/usr/bin/env python3
"""Makes a database and an uploads folder shaped like The Plugs before the bucket, for
rehearsing and timing `plugs-media migrate-files` on a local stack.

    scripts/legacy_fixture.py --files 1000 --uploads-dir /tmp/uploads | psql "$DATABASE_URL"

Writes the files (JPEG, PNG, PDF and text, 1 KiB to 256 KiB, sizes fixed by --seed) and prints
the SQL that inserts one user, --events events and one live event_media row per file with a
`/uploads/events/{event_id}/{category}/{file}` URL and no s3_key. Run `plugs-media migrate`
on the database first.
"""
import argparse
import os
import random
import uuid
from datetime import datetime, timedelta, timezone

KINDS = [
    ("images", "jpg", "image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
    ("images", "png", "image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"),
    ("documents", "pdf", "application/pdf", b"%PDF-1.4\n"),
    ("general", "txt", "text/plain", b""),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--uploads-dir", required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    user = uuid.UUID(int=rng.getrandbits(128), version=4)
    events = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(args.events)]
    print("begin;")
    print(f"insert into users (id, email) values ('{user}', 'legacy-{user}@example.com');")
    for e in events:
        print(f"insert into events (id, user_id, title) values ('{e}', '{user}', 'Legacy event');")
    start = datetime(2022, 1, 1, tzinfo=timezone.utc)
    for i in range(args.files):
        event = events[i % len(events)]
        category, ext, mime, head = KINDS[i % len(KINDS)]
        size = rng.randint(1024, 256 * 1024)
        if ext == "txt":
            body = (f"line {i}\n" * (size // 8 + 1)).encode()[:size]
        else:
            body = head + rng.randbytes(size - len(head))
        name = f"{uuid.UUID(int=rng.getrandbits(128), version=4).hex}.{ext}"
        folder = os.path.join(args.uploads_dir, "events", str(event), category)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, name), "wb") as f:
            f.write(body)
        created = start + timedelta(seconds=i * 37, microseconds=rng.randint(0, 999_999))
        media = uuid.UUID(int=rng.getrandbits(128), version=4)
        print(
            "insert into event_media (id, event_id, file_url, file_type, file_size, created_at) "
            f"values ('{media}', '{event}', '/uploads/events/{event}/{category}/{name}', "
            f"'{mime}', {len(body)}, '{created.isoformat()}');"
        )
    print("commit;")


if __name__ == "__main__":
    main()
