"""``askdb bench``: the speed benchmark's command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path

from training.evaluate import Evaluator

from .settings import Settings

log = logging.getLogger(__name__)


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from nlsql import Text2SqlModel
    from nlsql.models.files import resolve_model_path

    from . import bench
    from .factory import ensure_sample_database, load_model

    ensure_sample_database(settings)
    sample_url = settings.effective_database_url
    sets: dict[str, list[bench.BenchItem]] = {}
    if not args.spider_only:
        sets["sample"] = bench.sample_items(sample_url)
    if args.spider:
        sets["spider"] = bench.spider_items(Path(args.data_dir), args.spider)
    if not sets:
        raise SystemExit("askdb bench: --spider-only needs --spider N")
    if args.concurrency and "sample" not in sets:
        raise SystemExit("askdb bench: --concurrency asks the sample database's questions; "
                         "leave out --spider-only")

    def evaluator(model) -> Evaluator:
        return Evaluator(model, Path(args.data_dir), retries=settings.retries,
                         max_new_tokens=settings.max_new_tokens,
                         timeout_s=settings.query_timeout_s,
                         model_answers=settings.answerer == "model",
                         link_values=settings.value_linking)

    model = load_model(settings)
    engines = evaluator(model)
    runs = {name: bench.run_sequential(engines, items, type(model).__name__)
            for name, items in sets.items()}
    run = bench.BenchRun.merged(type(model).__name__, runs.values())
    result = {"backend": run.label, **run.summary()}
    if len(runs) > 1:  # each set's own figures, so a ratio never mixes the two
        result["sets"] = {name: r.summary(stages=False) for name, r in runs.items()}
    # the baseline may take many times longer: what is measured so far is kept in the log
    log.info("askdb bench, %s: %s", run.label,
             json.dumps({k: v for k, v in result.items() if k != "stages"}))
    if args.concurrency:
        result["concurrent"] = asyncio.run(_concurrent(
            settings, engines.engine(sample_url), sets["sample"], args.concurrency))
    result["peak_rss_mb"] = bench.peak_rss_mb()
    if args.compare:
        plain = Text2SqlModel.load(resolve_model_path(settings.model, settings.cache_path))
        plain.use_prefix_cache = False
        plain_runs = {name: bench.run_sequential(evaluator(plain), items, "plain generate")
                      for name, items in sets.items()}
        baseline = bench.BenchRun.merged("plain generate", plain_runs.values()).summary()
        result.update(bench.comparison(result, baseline))
        for name, figures in result.get("sets", {}).items():
            figures.update(bench.comparison(figures, plain_runs[name].summary(stages=False)))
        result["peak_rss_mb"] = bench.peak_rss_mb()
    if args.json:
        print(json.dumps(result))
    else:
        print(bench.report(result))
    return 0


async def _concurrent(settings: Settings, engine, items, n: int) -> dict:
    import tempfile

    from bot.conversation import Conversation
    from bot.store import ConversationStore

    from . import bench
    from .serve import install_worker_pool

    install_worker_pool(settings)  # as `askdb serve` does
    with tempfile.TemporaryDirectory() as tmp:
        store = ConversationStore(f"sqlite:///{tmp}/bench-state.sqlite")
        conversation = Conversation(engine, store, settings.history_turns)
        sample = [i for i in items if i.db == engine.database.url]
        return await bench.run_concurrent(conversation, sample, n)


def add_parsers(sub) -> None:
    b = sub.add_parser("bench", help="speed per stage and accuracy of the same run")
    b.add_argument("--spider", type=int, default=0,
                   help="also N evenly spread Spider dev questions")
    b.add_argument("--spider-only", action="store_true",
                   help="with --spider N: leave out the sample database's questions")
    b.add_argument("--data-dir", default="../shared/benchmarks")
    b.add_argument("--concurrency", type=int, default=0,
                   help="also send N threads' questions at once through the chat path")
    b.add_argument("--compare", action="store_true",
                   help="also run plain transformers generate (fp32, no caches) as baseline")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.set_defaults(func=cmd_bench)
