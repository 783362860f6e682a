"""``askdb examples``: the worked question/SQL pairs each question is shown.

People add them from chat (Correct, Fix SQL); operators import, list and delete them
here. Every command names the store it reads, and warns when that store is empty while
another known home holds examples: the usual reason corrections "disappear".
"""

from __future__ import annotations

import argparse
import json
import sys

from nlsql import AskdbError, SqlGuard

from .output import format_table
from .settings import Settings


def _store(settings: Settings):
    from bot.store import ConversationStore
    from nlsql.examples import ExampleStore

    from .home import stray_stores, stray_warning

    print(f"store: {_shown(settings.effective_state_url)}", file=sys.stderr)
    strays = stray_stores(settings.effective_state_url, settings.cache_path)
    if strays:
        print("askdb: warning: " + stray_warning(strays, settings.effective_state_url,
                                                 settings.cache_path), file=sys.stderr)
    # the conversation store creates the file's folder and migrates it, as `serve` does
    return ExampleStore(ConversationStore(settings.effective_state_url).engine)


def _shown(url: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    """Load {question, sql[, db]} JSON lines as verified examples; each SQL is guarded."""
    from nlsql import open_readonly
    from nlsql.examples import database_key

    from .factory import ensure_sample_database

    if not args.db:
        ensure_sample_database(settings)
    url = args.db or settings.effective_database_url
    database = open_readonly(url, settings.query_timeout_s)
    guard = SqlGuard.for_schema(database.dialect, database.schema(), settings.max_rows,
                                settings.extra_functions)
    store = _store(settings)
    added = refused = 0
    with open(args.file, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                guard.check(item["sql"])
                store.add(database_key(url), item["question"], item["sql"], "imported")
                added += 1
            except (ValueError, KeyError, TypeError, AskdbError) as err:
                refused += 1
                print(f"line {number}: skipped ({getattr(err, 'user_message', err)})",
                      file=sys.stderr)
    print(f"imported {added} examples for {database_key(url)}; skipped {refused}")
    return 0 if added or not refused else 1


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from nlsql.examples import database_key

    store = _store(settings)
    database = None if args.all else database_key(args.db or settings.effective_database_url)
    rows = [r for r in store.all(database) if not args.source or r["source"] == args.source]
    if args.json:
        for row in rows:
            sys.stdout.write(json.dumps(
                {"id": row["id"], "database": row["database"], "source": row["source"],
                 "question": row["question"], "sql": row["sql"],
                 "history": json.loads(row["history"] or "[]"),
                 "created_at": row["created_at"].isoformat()}, ensure_ascii=False) + "\n")
        return 0
    if not rows:
        print(f"no examples for {database or 'any database'}")
        return 0
    print(format_table(["id", "source", "question", "sql"],
                       [[r["id"], r["source"], r["question"], " ".join(r["sql"].split())]
                        for r in rows], limit=len(rows)))
    return 0


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    removed = store.delete(args.ids)
    print(f"deleted {removed} of {len(args.ids)} examples")
    return 0 if removed == len(args.ids) else 1


def add_parsers(sub) -> None:
    examples = sub.add_parser("examples", help="worked question/SQL examples")
    examples_sub = examples.add_subparsers(dest="examples_command", required=True)
    imp = examples_sub.add_parser("import", help="import JSON lines {question, sql}")
    imp.add_argument("file")
    imp.add_argument("--db", help="database the examples are for (default: the configured)")
    imp.set_defaults(func=cmd_import)

    listing = examples_sub.add_parser("list", help="the stored examples of a database")
    which = listing.add_mutually_exclusive_group()
    which.add_argument("--db", help="database URL (default: the configured)")
    which.add_argument("--all", action="store_true", help="every database's examples")
    listing.add_argument("--source", choices=["verified", "correction", "imported"],
                         help="only examples of this origin")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=cmd_list)

    delete = examples_sub.add_parser("delete", help="remove examples by id (see list)")
    delete.add_argument("ids", nargs="+", type=int)
    delete.set_defaults(func=cmd_delete)
