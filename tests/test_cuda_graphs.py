"""CUDA-graph decoding (static KV cache, compiled decode step) gives the plain path's text.

Skipped with a reason where no CUDA device exists (the CI machine); on a GPU server it
must pass.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="needs a CUDA device: the static cache is compiled into CUDA graphs only there")

from nlsql import Text2SqlModel  # noqa: E402

QUESTIONS = ["How many improvements did DC2 make in 2024?", "List every tool", "Ai làm nhiều nhất?"]


def _messages(question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "CREATE TABLE Jidouka (JidoukaId INTEGER PRIMARY KEY,"
                                          " DepartmentName TEXT, DateCreate TEXT);"},
            {"role": "user", "content": question}]


def test_compiled_static_cache_matches_plain_generate(tiny_model_dir):
    plain = Text2SqlModel.load(tiny_model_dir, dtype="float32", device="cuda")
    plain.use_prefix_cache = False
    graphs = Text2SqlModel.load(tiny_model_dir, dtype="float32", device="cuda",
                                static_cache_len=1024)
    assert graphs.static_cache_len == 1024
    expected = [plain.generate(_messages(q), max_new_tokens=24).text for q in QUESTIONS]
    # twice: the second round replays the graphs compiled by the first
    for _round in range(2):
        got = [graphs.generate(_messages(q), max_new_tokens=24).text for q in QUESTIONS]
        assert got == expected
    assert graphs._static_cache is not None
    # from several worker threads at once (as the server asks): still the same text
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(lambda q: graphs.generate(_messages(q), max_new_tokens=24).text,
                            QUESTIONS))
    assert got == expected
