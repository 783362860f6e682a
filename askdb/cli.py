"""The ``askdb`` command line: ask, check-sql, serve, model, examples, eval, train, adapters."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from nlsql import AskdbError, BadQuestion, SqlGuard

from . import logs
from .cli_bench import add_parsers as add_bench_parsers
from .cli_examples import add_parsers as add_examples_parsers
from .cli_training import add_parsers as add_training_parsers
from .output import format_table, print_json
from .settings import Settings

log = logging.getLogger("askdb")


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from bot.store import ConversationStore
    from nlsql import LazyText2Sql

    from .factory import build_text2sql

    store = ConversationStore(settings.effective_state_url)
    engine = LazyText2Sql(lambda: build_text2sql(settings, args.db))

    def ask(thread: str | None, question: str) -> dict:
        key = f"cli:{thread}" if thread else None
        history = store.history(key, settings.history_turns) if key else []
        answer = engine.ask(question, history)
        if key:
            store.add_turn(key, "cli", "", answer)
        return answer.to_json()

    if args.jsonl:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                thread, question = item.get("thread"), str(item.get("question") or "")
            except (ValueError, AttributeError):
                print_json({"error": "input line is not a JSON object", "sql": None,
                             "columns": [], "rows": [], "answer": "", "timings": {}})
                continue
            result = ask(None if thread is None else str(thread), question)
            print_json({"thread": thread, **result})
        return 0
    if not args.question:
        print("askdb ask: give a QUESTION or --jsonl", file=sys.stderr)
        return 2
    result = ask(args.thread, " ".join(args.question))
    if args.json:
        print_json(result)
    else:
        if result["sql"]:
            print(result["sql"] + "\n")
        if result["columns"]:
            print(format_table(result["columns"], result["rows"]) + "\n")
        print(result["answer"] or result["error"])
    return 1 if result["error"] else 0


def cmd_check_sql(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.db:
            from nlsql import open_readonly

            database = open_readonly(args.db, settings.query_timeout_s)
            guard = SqlGuard.for_schema(database.dialect, database.schema(),
                                        settings.max_rows, settings.extra_functions)
        else:
            guard = SqlGuard(args.dialect, None, settings.max_rows,
                             extra_functions=settings.extra_functions)
        print(guard.check(args.sql).sql)
        return 0
    except AskdbError as err:
        print(err.user_message, file=sys.stderr)
        print(f"rejected: {getattr(err, 'reason', err.user_message)}")
        return 1


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from .serve import serve

    serve(settings, port=args.port, host=args.host)
    return 0


def cmd_model_prepare(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from nlsql.models.files import prepare_bundled

    name = args.model or settings.model
    with tqdm(total=0, unit="B", unit_scale=True, desc=f"assembling {name}") as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        path = prepare_bundled(name, settings.cache_path, progress)
    print(f"model ready: {path}")
    return 0


def cmd_sample_db(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from nlsql.db.sampledb import create_sample_database

    path = create_sample_database(Path(args.path) if args.path else settings.sample_database_path)
    print(f"sqlite:///{path}")
    return 0


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from .doctor import FAIL, run_checks

    checks = run_checks(settings)
    if args.json:
        from .factory import locations

        print_json({"ok": all(c.status != FAIL for c in checks),
                     "locations": locations(settings),
                     "checks": [c.as_dict() for c in checks]})
    else:
        marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
        for check in checks:
            print(f"{marks[check.status]}  {check.name:<20} {check.detail}")
            if check.fix and check.status != "ok":
                print(f"{'':26}fix: {check.fix}")
    return 1 if any(c.status == FAIL for c in checks) else 0


def cmd_audit_export(args: argparse.Namespace, settings: Settings) -> int:
    import datetime as dt

    from bot.audit import AuditLog
    from bot.store import ConversationStore

    since = None
    if args.since:
        try:
            since = dt.datetime.fromisoformat(args.since)
        except ValueError as err:
            raise BadQuestion(f"--since {args.since!r} is not a date like 2026-11-01.") from err
    store = ConversationStore(settings.effective_state_url)
    audit = AuditLog(store.engine)
    if args.out:
        with open(args.out, "w", newline="", encoding="utf-8") as out:
            count = audit.export_csv(out, since)
        print(f"wrote {count} audit rows to {args.out}", file=sys.stderr)
    else:
        audit.export_csv(sys.stdout, since)
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    import time
    from pathlib import Path

    from training import benchmarks as bench
    from training import evaluate as ev

    from .factory import load_model

    data_dir = Path(args.data_dir)
    name = args.dataset or Path(args.jsonl).stem
    folder = Path(args.results) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True, exist_ok=True)
    model = load_model(settings, adapter=args.adapter or True)
    if args.memo:
        from training.memo import MemoModel

        model = MemoModel(model, Path(args.memo))
    evaluator = ev.Evaluator(model, data_dir, retries=settings.retries,
                             max_new_tokens=settings.max_new_tokens,
                             timeout_s=settings.query_timeout_s,
                             link_values=settings.value_linking,
                             progress_file=folder / "progress.jsonl")
    started = time.perf_counter()
    if args.dataset == "sparc":
        interactions = bench.spread(bench.load_sparc(data_dir), args.limit)
        scored, summary = ev.evaluate_interactions(evaluator, interactions)
    else:
        items = bench.load_jsonl(Path(args.jsonl)) if args.jsonl else \
            bench.load_spider(data_dir)
        items = bench.spread(items, args.limit)
        if args.learn_split:
            learn, test = ev.learn_split(items, args.learn_split)
            without, s0 = ([], {"ex": None}) if args.with_examples_only else \
                ev.evaluate_items(evaluator, test, desc="without examples")
            k = max(1, settings.examples_k)  # as many per question as the bot shows
            scored, summary = ev.evaluate_items(evaluator, test, ev.example_lookup(learn, k),
                                                desc="with examples")
            summary.update(ex_without_examples=s0["ex"], ex_with_examples=summary["ex"],
                           learned=len(learn), tested=len(test), examples_k=k)
            scored = without + scored
        else:
            scored, summary = ev.evaluate_items(evaluator, items)
    summary.update(dataset=name, model=settings.model, adapter=evaluator.model.adapter_version,
                   limit=args.limit,
                   **({"memo_hits": model.hits, "memo_misses": model.misses} if args.memo else {}),
                   wall_seconds=round(time.perf_counter() - started, 1))
    ev.write_results(folder, scored, summary)
    if args.json:
        print_json({**summary, "results": str(folder)})
    else:
        for key, value in summary.items():
            print(f"{key:>22}: {value}")
        print(f"{'results':>22}: {folder}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="askdb", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    ask = sub.add_parser("ask", help="answer one question (or JSON lines) from the shell")
    ask.add_argument("--db", help="database URL (default: ASKDB_DATABASE_URL or the sample)")
    ask.add_argument("--thread", help="thread id: follow-ups share its history")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.add_argument("--jsonl", action="store_true",
                     help='read {"thread": ..., "question": ...} lines from stdin')
    ask.add_argument("question", nargs="*")
    ask.set_defaults(func=cmd_ask)

    check = sub.add_parser("check-sql", help="run the SQL guard alone")
    target = check.add_mutually_exclusive_group(required=True)
    target.add_argument("--db", help="database URL: also check tables against it")
    target.add_argument("--dialect", choices=["sqlite", "postgres", "tsql"])
    check.add_argument("sql")
    check.set_defaults(func=cmd_check_sql)

    serve = sub.add_parser("serve", help="start the chat server (web chat, Slack, Teams)")
    serve.add_argument("--port", type=int)
    serve.add_argument("--host")
    serve.set_defaults(func=cmd_serve)

    model = sub.add_parser("model", help="model files")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    prepare = model_sub.add_parser("prepare", help="assemble, verify and convert a bundled model")
    prepare.add_argument("--model", help="bundled model name (default: ASKDB_MODEL)")
    prepare.set_defaults(func=cmd_model_prepare)

    doctor = sub.add_parser("doctor", help="check configuration, database, model files and "
                                           "platform credentials; say what to fix")
    doctor.add_argument("--json", action="store_true", help="print one JSON object")
    doctor.set_defaults(func=cmd_doctor)

    audit = sub.add_parser("audit", help="the audit log of questions and feedback")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    export = audit_sub.add_parser("export", help="write the audit log as CSV")
    export.add_argument("--out", help="CSV file to write (default: standard output)")
    export.add_argument("--since", help="only rows from this date/time on (ISO, UTC)")
    export.set_defaults(func=cmd_audit_export)

    add_examples_parsers(sub)

    evaluate = sub.add_parser("eval", help="execution accuracy on Spider, SParC or a JSONL file")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", choices=["spider", "sparc"])
    source.add_argument("--jsonl", help="file of {db, question, sql} lines")
    evaluate.add_argument("--data-dir", default="../shared/benchmarks")
    evaluate.add_argument("--limit", type=int, help="an evenly spread sample of N items")
    evaluate.add_argument("--learn-split", type=float, default=0.0,
                          help="fraction of each database's questions given as examples")
    evaluate.add_argument("--results", default="results", help="folder for the results")
    evaluate.add_argument("--json", action="store_true", help="print the summary as JSON")
    evaluate.add_argument("--with-examples-only", action="store_true",
                          help="with --learn-split: skip the pass without examples")
    evaluate.add_argument("--memo", metavar="FILE",
                          help="remember generations in FILE and reuse them for prompts seen "
                               "before (prompt experiments; its timings are not speed figures)")
    evaluate.add_argument("--adapter", help="score this adapter instead of the promoted one: a "
                          "version (v0003), an adapter file/folder, or 'none' for the base")
    evaluate.set_defaults(func=cmd_eval)

    add_training_parsers(sub)
    add_bench_parsers(sub)

    sample = sub.add_parser("sample-db", help="(re)create the sample Jidouka SQLite database")
    sample.add_argument("path", nargs="?")
    sample.set_defaults(func=cmd_sample_db)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except AskdbError as err:
        print(f"askdb: {err.user_message}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    try:
        return args.func(args, settings)
    except AskdbError as err:
        print(f"askdb: {err.user_message}", file=sys.stderr)
        return 1
    except SQLAlchemyError as err:  # mostly askdb's own state store: a path or a server
        first = str(getattr(err, "orig", None) or err).splitlines()[0]
        print(f"askdb: database error: {first} (`askdb doctor` checks ASKDB_STATE_URL, "
              "ASKDB_CACHE_DIR and ASKDB_DATABASE_URL)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
