"""Training examples: stored corrections and verified pairs, in the exact prompt the bot uses.

An adapter only helps if it is trained on the chat the model will see when answering,
so every example is rendered through ``nlsql.pipeline.prompt_messages`` with the thread
history it was asked in, and the loss is taken on the answer (the SQL) alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from nlsql import HistoryTurn, ReadOnlyDatabase, open_readonly
from nlsql.examples import ExampleStore, database_key
from nlsql.models import render_chat
from nlsql.pipeline import prompt_messages
from nlsql.prompting import sql_block, with_reply_start

IGNORE = -100  # label value the loss skips


@dataclass(frozen=True)
class TrainExample:
    database_url: str
    question: str
    sql: str
    history: tuple[HistoryTurn, ...] = ()
    source: str = "verified"
    id: int = 0

    @property
    def sql_key(self) -> str:
        return " ".join(self.sql.lower().split())


def from_store(store: ExampleStore, database_url: str, after_id: int = 0) -> list[TrainExample]:
    """The database's examples; a later answer to the same question replaces an earlier one."""
    latest: dict[str, TrainExample] = {}
    for row in store.all(database_key(database_url)):
        history = tuple(HistoryTurn(h.get("question", ""), h.get("sql"))
                        for h in json.loads(row["history"] or "[]"))
        key = " ".join(row["question"].lower().split()) + "|" + json.dumps(
            [(h.question, h.sql) for h in history])
        latest[key] = TrainExample(database_url, row["question"], row["sql"], history,
                                   row["source"], row["id"])
    return [e for e in latest.values() if e.id > after_id] if after_id else list(latest.values())


def holdout_split(examples: Sequence[TrainExample], fraction: float
                  ) -> tuple[list[TrainExample], list[TrainExample]]:
    """Hold out a share of distinct SQL queries, so paraphrases never fall on both sides.

    Deterministic (hash order), so a rerun on the same data holds out the same queries
    and gate scores of two runs are comparable.
    """
    groups: dict[tuple[str, str], list[TrainExample]] = {}
    for ex in examples:
        groups.setdefault((ex.database_url, ex.sql_key), []).append(ex)
    # hash the database's stable name, not its path: a rerun from another folder (or
    # machine) must hold out the same queries
    keys = sorted(groups, key=lambda k: hashlib.sha1(
        f"{database_key(k[0])}|{k[1]}".encode()).hexdigest())
    cut = round(len(keys) * fraction) if len(keys) > 1 else 0
    held = [e for k in keys[:cut] for e in groups[k]]
    train = [e for k in keys[cut:] for e in groups[k]]
    return train, held


@dataclass
class Tokenized:
    input_ids: list[int]
    labels: list[int]
    example: TrainExample = field(repr=False)


class ChatRenderer:
    """Renders examples into chats and token ids; one read-only connection per database."""

    def __init__(self, tokenizer, schema_budget_chars: int = 12_000,
                 link_values: bool = True) -> None:
        self.tokenizer = tokenizer
        self.schema_budget_chars = schema_budget_chars
        self.link_values = link_values  # as serving does, or the adapter learns other prompts
        self._databases: dict[str, ReadOnlyDatabase] = {}

    def database(self, url: str) -> ReadOnlyDatabase:
        if url not in self._databases:
            self._databases[url] = open_readonly(url)
        return self._databases[url]

    def prompt(self, example: TrainExample) -> list[dict[str, str]]:
        return prompt_messages(self.database(example.database_url), example.question,
                               example.history, (), self.schema_budget_chars,
                               self.link_values)

    def chat(self, example: TrainExample) -> list[dict[str, str]]:
        return [*self.prompt(example), {"role": "assistant", "content": sql_block(example.sql)}]

    def tokenize(self, example: TrainExample) -> Tokenized:
        # the prompt exactly as the bot renders it, reply begun with the SQL fence: the
        # loss is on what follows the fence
        prompt = render_chat(self.tokenizer, with_reply_start(self.prompt(example)))
        full = self.tokenizer.apply_chat_template(
            self.chat(example), tokenize=False, add_generation_prompt=False)
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = self.tokenizer(full, add_special_tokens=False)["input_ids"]
        n = len(prompt_ids)
        if ids[:n] != prompt_ids:  # a merge across the boundary: count the shared prefix
            n = next((i for i, (a, b) in enumerate(zip(ids, prompt_ids, strict=False))
                      if a != b), min(len(ids), n))
        labels = [IGNORE] * n + ids[n:]
        return Tokenized(ids, labels, example)

    def tokenize_all(self, examples: Iterable[TrainExample], max_len: int
                     ) -> tuple[list[Tokenized], int]:
        """Tokenised examples that fit ``max_len``, and how many did not (skipped whole)."""
        out, skipped = [], 0
        for ex in examples:
            tok = self.tokenize(ex)
            if len(tok.input_ids) > max_len:
                skipped += 1
                continue
            out.append(tok)
        return out, skipped
