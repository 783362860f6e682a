"""``askdb bench``: the speed benchmark's command line."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from .settings import Settings


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from nlsql import Text2SqlModel
    from nlsql.model_files import resolve_model_path

    from . import bench
    from .factory import ensure_sample_database, load_model

    ensure_sample_database(settings)
    items = bench.sample_items()
    if args.spider:
        items += bench.spider_items(Path(args.data_dir), args.spider)
    model = load_model(settings)
    engines = bench.Engines(model, settings.effective_database_url, Path(args.data_dir),
                            settings.retries, settings.max_new_tokens,
                            settings.answerer == "model")
    run = bench.run_sequential(engines, items, type(model).__name__)
    result = {"backend": run.label, **run.summary()}
    if args.concurrency:
        result["concurrent"] = asyncio.run(_concurrent(settings, engines, items,
                                                       args.concurrency))
    result["peak_rss_mb"] = bench.peak_rss_mb()
    if args.compare:
        plain = Text2SqlModel.load(resolve_model_path(settings.model, settings.cache_path))
        plain.use_prefix_cache = False
        baseline = bench.run_sequential(
            bench.Engines(plain, settings.effective_database_url, Path(args.data_dir),
                          settings.retries, settings.max_new_tokens,
                          settings.answerer == "model"), items, "plain generate").summary()
        result.update(baseline_p50_s=baseline["p50_s"], baseline_p95_s=baseline["p95_s"],
                      baseline_ex=baseline["ex"],
                      baseline_tokens_per_s=baseline["tokens_per_s"],
                      speedup=round(baseline["p50_s"] / result["p50_s"], 2)
                      if result["p50_s"] else None)
        result["peak_rss_mb"] = bench.peak_rss_mb()
    if args.json:
        print(json.dumps(result))
    else:
        print(bench.report(result))
    return 0


async def _concurrent(settings: Settings, engines, items, n: int) -> dict:
    import tempfile

    from bot.conversation import Conversation
    from bot.store import ConversationStore

    from . import bench

    class _Asker:  # the sample database's engine, as the server's LazyText2Sql would be
        def ask(self, question, history=(), examples=None):
            return engines.get("sample").ask(question, history, examples)

    with tempfile.TemporaryDirectory() as tmp:
        store = ConversationStore(f"sqlite:///{tmp}/bench-state.sqlite")
        conversation = Conversation(_Asker(), store, settings.history_turns)
        sample = [i for i in items if i.engine_key == "sample"]
        return await bench.run_concurrent(conversation, sample, n)


def add_parsers(sub) -> None:
    b = sub.add_parser("bench", help="speed per stage and accuracy of the same run")
    b.add_argument("--spider", type=int, default=0,
                   help="also N evenly spread Spider dev questions")
    b.add_argument("--data-dir", default="../shared/benchmarks")
    b.add_argument("--concurrency", type=int, default=0,
                   help="also send N threads' questions at once through the chat path")
    b.add_argument("--compare", action="store_true",
                   help="also run plain transformers generate (fp32, no caches) as baseline")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.set_defaults(func=cmd_bench)
