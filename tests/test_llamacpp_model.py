"""The llama.cpp backend on the bundled GGUF: the same generate contract as torch.

Greedy decoding is deterministic, so parking and restoring a schema prefix's KV state
must give exactly the SQL a cold prompt gives.
"""

from __future__ import annotations

import pytest

from askdb.factory import choose_backend, load_model
from nlsql import BadQuestion, ConfigError, ModelUnavailable
from nlsql.models.llamacpp import LlamaCppModel
from nlsql.prompting import (
    REPLY_START,
    build_messages,
    extract_sql,
    reply_is_complete,
    sql_is_complete,
    with_reply_start,
)
from tests.conftest import real_settings

pytestmark = pytest.mark.model

SCHEMA_A = ("You write SQLite queries.\nCREATE TABLE Department (DepartmentId INTEGER PRIMARY "
            "KEY, DepartmentName TEXT);\nCREATE TABLE Jidouka (JidoukaId INTEGER PRIMARY KEY, "
            "DepartmentId INTEGER REFERENCES Department, TotalTimeSaved REAL);")
SCHEMA_B = ("You write SQLite queries.\nCREATE TABLE singer (singer_id INTEGER PRIMARY KEY, "
            "name TEXT, country TEXT, age INTEGER);")
Q_A = {"role": "user", "content": "What is the total time saved by each department?"}
Q_B = {"role": "user", "content": "How many singers are from France?"}


@pytest.fixture(scope="module")
def llama(real_model):
    if not isinstance(real_model, LlamaCppModel):
        pytest.fail(f"the default backend on this CPU machine should be llama.cpp, got "
                    f"{type(real_model).__name__}: is llama-cpp-python installed?")
    return real_model


@pytest.fixture(scope="module")
def single(llama):
    """The same weights served one question at a time (ASKDB_BATCH_SLOTS=1)."""
    model = LlamaCppModel.load(llama.name, llama.tokenizer.name_or_path, n_ctx=4096,
                               slots=1)
    yield model
    model.llm.close()


def test_default_serving_batches_concurrent_questions(llama):
    import llama_cpp

    assert llama.slots > 1 and llama._batcher is not None
    # room for several full-length questions, within the context the model was trained on
    cells = llama_cpp.llama_n_ctx(llama._batcher.ctx.ctx)
    assert 2 * llama.n_ctx <= cells <= llama_cpp.llama_model_n_ctx_train(llama.llm._model.model)


def test_auto_backend_is_llamacpp_on_cpu():
    assert choose_backend(real_settings()) == "llamacpp"
    assert choose_backend(real_settings(backend="torch")) == "torch"


def test_llamacpp_serves_bundled_models_only(tiny_model_dir):
    with pytest.raises(ConfigError, match="bundled"):
        load_model(real_settings(backend="llamacpp", model=str(tiny_model_dir)))
    # auto falls back to torch for a Hugging Face folder
    assert choose_backend(real_settings(model=str(tiny_model_dir))) == "torch"


def test_stop_and_limit(llama):
    llama.clear_prefix_cache()
    limited = llama.generate([{"role": "system", "content": SCHEMA_A}, Q_A], max_new_tokens=5)
    assert limited.new_tokens == 5 and limited.prompt_tokens > 40
    full = llama.generate([{"role": "system", "content": SCHEMA_A}, Q_A], 200, sql_is_complete)
    assert (extract_sql(full.text) or "").upper().startswith("SELECT"), full.text
    assert full.new_tokens < 200  # ended by the end of the statement or of the turn


def test_parked_prefixes_give_the_cold_sql(single):
    a = [{"role": "system", "content": SCHEMA_A}, Q_A]
    b = [{"role": "system", "content": SCHEMA_B}, Q_B]
    single.clear_prefix_cache()
    cold_a = single.generate(a, 80, sql_is_complete).text
    single.clear_prefix_cache()
    cold_b = single.generate(b, 80, sql_is_complete).text
    # alternate: each switch parks one schema's state and restores the other's
    for _ in range(2):
        assert single.generate(a, 80, sql_is_complete).text == cold_a
        assert single.generate(b, 80, sql_is_complete).text == cold_b
    assert SCHEMA_A in single._states  # a is parked while b is current
    warm = single.generate(a, 80, sql_is_complete)
    assert warm.text == cold_a and "singer" in cold_b


def test_a_begun_reply_continues_what_the_model_would_write(llama, single):
    """The pipeline begins the reply with the fence the model writes anyway: the SQL
    after it must be what the model wrote unprompted, from fewer forward passes."""
    messages = build_messages(SCHEMA_A.split("\n", 1)[1], "sqlite", Q_A["content"])
    for model in (single, llama):  # one question at a time, and the batcher
        plain = model.generate(messages, 80, sql_is_complete)
        begun = model.generate(with_reply_start(messages), 80, reply_is_complete)
        assert plain.text.startswith(REPLY_START), plain.text
        assert REPLY_START + begun.text == plain.text
        assert begun.new_tokens == plain.new_tokens - 3  # ```, sql, newline
        assert begun.prompt_tokens == plain.prompt_tokens + 3


def test_too_long_prompt_is_a_clear_error(llama):
    huge = [{"role": "system", "content": SCHEMA_A + " -- padding" * 9000}, Q_A]
    with pytest.raises(BadQuestion, match="too long"):
        llama.generate(huge, 50)


def test_batched_questions_decode_together_and_match_one_at_a_time(single):
    """Concurrent questions share a batch and the schema prefix's KV cells.

    A batch evaluates tokens in different groupings than one question alone, so float
    rounding may flip a near-tie greedy choice (as in any batching server): the SQL must
    be complete and, for most questions, exactly the one-at-a-time SQL.
    """
    import threading

    questions = [
        [{"role": "system", "content": SCHEMA_A}, Q_A],
        [{"role": "system", "content": SCHEMA_B}, Q_B],
        [{"role": "system", "content": SCHEMA_A},
         {"role": "user", "content": "How many departments are there?"}],
        [{"role": "system", "content": SCHEMA_B},
         {"role": "user", "content": "List the names of singers older than 30."}],
    ]
    single.clear_prefix_cache()
    alone = [single.generate(q, 80, sql_is_complete).text for q in questions]
    batched = LlamaCppModel.load(single.name, single.tokenizer.name_or_path,
                                 n_ctx=4096, slots=4)
    try:
        results: dict[int, str] = {}

        def ask(i: int) -> None:
            results[i] = batched.generate(questions[i], 80, sql_is_complete).text

        for _round in range(2):  # the second round starts from the cached prefixes
            threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(300)
            same = sum(results[i] == alone[i] for i in range(4))
            assert same >= 3, (results, alone)
            for i in range(4):
                assert (extract_sql(results[i]) or "").upper().startswith("SELECT")
        assert set(batched._batcher.prefixes) == {SCHEMA_A, SCHEMA_B}
        batched.set_adapter(None)  # swapping closes the batcher after its questions
        after_swap = batched.generate(questions[0], 80, sql_is_complete)
        assert (extract_sql(after_swap.text) or "").upper().startswith("SELECT")
        with pytest.raises(ModelUnavailable):  # a bad adapter leaves the batch serving
            batched.set_adapter("/nonexistent/adapter.gguf")
        assert batched.generate(questions[1], 80, sql_is_complete).new_tokens > 0
    finally:
        batched._batcher.close()


def test_q8_0_weights_are_written_once_and_serve_the_same_answers(single, tmp_path):
    """ASKDB_LLAMACPP_WEIGHTS=q8_0: the verified Q4_K_M re-quantised by llama.cpp."""
    from pathlib import Path

    from nlsql.models.files import bundled, converted_dir, gguf_path, served_gguf

    settings = real_settings()
    model = bundled(settings.model)
    cache = tmp_path / "cache"
    (cache / "gguf").mkdir(parents=True)
    (cache / "gguf" / model.gguf_name).symlink_to(gguf_path(settings.cache_path, model))
    q8 = served_gguf(cache, model, "q8_0")
    assert q8.name.endswith(".Q8_0.gguf") and not list(q8.parent.glob("*.partial"))
    assert q8.stat().st_size > 1.5 * Path(single.name).stat().st_size  # 8.5 vs 5 bits
    written = q8.stat().st_mtime_ns
    assert served_gguf(cache, model, "q8_0").stat().st_mtime_ns == written  # once
    assert served_gguf(cache, model, "q4_k_m") == cache / "gguf" / model.gguf_name

    eight = LlamaCppModel.load(q8, converted_dir(settings.cache_path, model), n_ctx=2048)
    b = [{"role": "system", "content": SCHEMA_B}, Q_B]
    single.clear_prefix_cache()
    four = extract_sql(single.generate(b, 80, sql_is_complete).text)
    assert extract_sql(eight.generate(b, 80, sql_is_complete).text) == four
    assert "france" in (four or "").lower()
    eight.llm.close()


def test_phrasing_waits_for_sql_still_to_write(single):
    """A deferrable request (an answer to phrase) is admitted after SQL queued later."""
    import threading
    import time

    from nlsql.models.llamacpp_batch import Batcher, Request, prefix_ids

    batcher = Batcher(single.llm, single.tokenizer, slots=1, n_ctx=4096, threads=2)
    messages = [{"role": "system", "content": SCHEMA_A}, Q_A]
    ids = single.tokenizer(single.render(messages), add_special_tokens=False)["input_ids"]
    key, shared = prefix_ids(single.tokenizer, messages)

    def request(max_new: int, later: bool = False) -> Request:
        return Request(ids, key, shared, max_new, None, later)

    try:
        busy, phrase, sql = request(40), request(5, later=True), request(5)
        threads = [threading.Thread(target=batcher.submit, args=(r,))
                   for r in (busy, phrase, sql)]
        for thread in threads:  # arrival order: busy, then phrase, then sql
            thread.start()
            time.sleep(0.2)
        for thread in threads:
            thread.join(120)
        assert busy.ended <= sql.first < phrase.first  # the only slot went to the SQL
        assert phrase.new and sql.new
    finally:
        batcher.close()


def test_the_answerer_phrases_as_deferrable():
    from nlsql import Answerer, ResultTable
    from nlsql.models import Generation, is_deferrable

    seen: list[bool] = []

    class Recording:
        def generate(self, messages, max_new_tokens=256, stop_when=None):
            seen.append(is_deferrable())
            return Generation("DC2 saved the most.", 10, 5, 0.0, 0.0)

    table = ResultTable(("DepartmentName", "Saved"), (("DC1", 10), ("DC2", 20)))
    assert Answerer(Recording()).answer("Who saved most?", table) == "DC2 saved the most."
    assert seen == [True] and not is_deferrable()


def _submit(model, batcher, messages, deferrable: bool = False):
    from nlsql.models.llamacpp_batch import Request, prefix_ids, turns_end

    messages = with_reply_start(messages)
    ids = model.tokenizer(model.render(messages), add_special_tokens=False)["input_ids"]
    key, shared = prefix_ids(model.tokenizer, messages)
    request = Request(ids, key, shared, 80, reply_is_complete, deferrable,
                      turns_end(model.tokenizer, messages))
    return batcher.submit(request)


def test_a_retry_and_a_follow_up_prefill_only_what_is_new(single):
    """A finished question's cells are kept: its retry and its follow-up start from them,
    while asking the same question again starts from the schema, as the first time did."""
    from nlsql.models.llamacpp_batch import Batcher
    from nlsql.prompting import retry_messages, sql_block

    batcher = Batcher(single.llm, single.tokenizer, slots=2, n_ctx=4096, threads=2)
    system = {"role": "system", "content": SCHEMA_A}
    try:
        first = _submit(single, batcher, [system, Q_A])
        assert first.reused == 0 and len(batcher.recent) == 1
        again = _submit(single, batcher, [system, Q_A])
        assert again.reused == len(first.prefix_ids)  # the schema; the question afresh
        assert again.text == first.text
        sql = extract_sql(REPLY_START + first.text)
        assert sql and sql.upper().startswith("SELECT"), first.text

        retry = _submit(single, batcher, retry_messages(
            [system, Q_A], sql, "no such column: Department.Name"))
        # the question, the fence and the failed SQL come from the kept cells
        assert retry.reused >= len(first.ids), (retry.reused, len(first.ids))
        assert (extract_sql(REPLY_START + retry.text) or "").upper().startswith("SELECT")

        follow_up = _submit(single, batcher, [
            system, Q_A, {"role": "assistant", "content": sql_block(sql)},
            {"role": "user", "content": "Only for department 2?"}])
        assert follow_up.reused >= len(first.ids)

        kept = len(batcher.recent)
        _submit(single, batcher, [system, Q_A], deferrable=True)  # phrasing: not kept
        assert len(batcher.recent) == kept

        # another database's prompt shares its first line only: nothing is reused, so
        # its SQL does not depend on which database was asked before
        other = _submit(single, batcher, [{"role": "system", "content": SCHEMA_B}, Q_B])
        assert other.reused == 0
    finally:
        batcher.close()


def test_kept_questions_are_bounded_and_give_way_when_memory_is_full(single):
    from nlsql.models.llamacpp_batch import Batcher

    system = {"role": "system", "content": SCHEMA_A}
    questions = ["How many departments are there?", "List every department's name.",
                 "What is the largest time saved?"]
    batcher = Batcher(single.llm, single.tokenizer, slots=1, n_ctx=4096, threads=2,
                      recent=2)
    try:
        for question in questions:
            _submit(single, batcher, [system, {"role": "user", "content": question}])
        assert len(batcher.recent) == 2  # the oldest made way
    finally:
        batcher.close()

    # two long schemas that do not fit the context together: the second question gets
    # the first one's cells instead of an error
    tables = "\n".join(f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, name_{i} TEXT, "
                       f"amount_{i} REAL, created_{i} TEXT);" for i in range(16))
    long_a = {"role": "system", "content": "You write SQLite queries.\n" + tables}
    long_b = {"role": "system", "content": "You write SQLite queries.\n" +
              tables.replace("CREATE TABLE t", "CREATE TABLE u")}
    question = {"role": "user", "content": "How many rows has t1?"}
    batcher = Batcher(single.llm, single.tokenizer, slots=1, n_ctx=768, threads=2)
    try:
        a = _submit(single, batcher, [long_a, question])
        assert len(a.ids) > 768 // 2, "the schemas must not fit the context together"
        assert batcher.recent and set(batcher.prefixes) == {long_a["content"]}
        b = _submit(single, batcher, [long_b, question])
        assert b.error is None and b.new
        assert set(batcher.prefixes) == {long_b["content"]}
    finally:
        batcher.close()
