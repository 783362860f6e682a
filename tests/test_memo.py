"""The eval memo: a prompt seen before is answered from the file, any change regenerates."""

from __future__ import annotations

from training.memo import MemoModel

MESSAGES = [{"role": "system", "content": "Write SQL."},
            {"role": "user", "content": "How many rows?"}]


def test_a_known_prompt_is_read_back_and_a_changed_one_generated(tiny_model, tmp_path):
    memo_file = tmp_path / "memo.jsonl"
    first = MemoModel(tiny_model, memo_file)
    generated = first.generate(MESSAGES, max_new_tokens=6)
    assert (first.hits, first.misses) == (0, 1) and generated.new_tokens > 0

    again = MemoModel(tiny_model, memo_file)  # a later run reads the file
    known = again.generate(MESSAGES, max_new_tokens=6)
    assert (again.hits, again.misses) == (1, 0)
    assert known.text == generated.text and known.new_tokens == generated.new_tokens
    assert known.decode_s == 0.0  # a hit is no speed figure

    changed = [*MESSAGES[:-1], {"role": "user", "content": "How many tables?"}]
    again.generate(changed, max_new_tokens=6)
    again.generate(MESSAGES, max_new_tokens=7)  # another limit is another generation
    assert (again.hits, again.misses) == (1, 2)
    assert again.name == tiny_model.name  # everything else is the wrapped model's


def test_another_stopping_rule_or_a_torn_line_is_generated_again(tiny_model, tmp_path):
    memo_file = tmp_path / "memo.jsonl"
    MemoModel(tiny_model, memo_file).generate(MESSAGES, max_new_tokens=6)
    with memo_file.open("a") as out:
        out.write('{"key": "abc", "generat')  # a run killed mid-write
    again = MemoModel(tiny_model, memo_file)
    again.generate(MESSAGES, max_new_tokens=6, stop_when=lambda text: ";" in text)
    assert (again.hits, again.misses) == (0, 1)
