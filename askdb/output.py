"""What the command line prints: JSON lines for programs, aligned tables for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence


def print_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def format_table(columns: Sequence[str], rows: Sequence[Sequence], limit: int = 50) -> str:
    cells = [[str(c) for c in columns]] + [
        ["" if v is None else str(v) for v in row] for row in rows[:limit]
    ]
    widths = [min(40, max(len(r[i]) for r in cells)) for i in range(len(columns))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(" | ".join(v[:40].ljust(w) for v, w in zip(row, widths, strict=True)))
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more rows")
    return "\n".join(lines)
