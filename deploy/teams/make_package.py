"""Build the Teams sideloading package: manifest with the app id, plus generated icons.

Icons are drawn here (plain PNG writer, no imaging library) so no binary is committed.
Usage: python deploy/teams/make_package.py APP_ID [OUT.zip]
"""

from __future__ import annotations

import json
import struct
import sys
import zipfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent


def png(size: int, rgba: tuple[int, int, int, int], border: int = 0) -> bytes:
    """A square PNG: filled with ``rgba``, transparent ``border`` pixels around it."""
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter: none
        for x in range(size):
            inside = border <= x < size - border and border <= y < size - border
            row += bytes(rgba if inside else (0, 0, 0, 0))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + \
        chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b"")


def build(app_id: str, out: Path) -> Path:
    manifest = (HERE / "manifest.json").read_text().replace("${TEAMS_APP_ID}", app_id)
    json.loads(manifest)  # still valid JSON
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", manifest)
        package.writestr("color.png", png(192, (38, 50, 56, 255)))
        package.writestr("outline.png", png(32, (255, 255, 255, 255), border=4))
    return out


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(build(sys.argv[1], Path(sys.argv[2] if len(sys.argv) > 2 else "askdb-teams.zip")))
