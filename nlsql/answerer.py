"""Phrasing a query result as a short answer in the asker's language.

A single value or an empty result needs no model: a direct sentence is faster and
cannot hallucinate. Longer results are summarised by the same base model that wrote
the SQL, told to use only the rows it is shown.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence

from .db import ResultTable, jsonable
from .models import Text2SqlModel, deferrable

log = logging.getLogger(__name__)

# Letters that only Vietnamese uses among the Latin-script languages we see.
_VI_LETTERS = set("ăâđêôơưĂÂĐÊÔƠƯ")
_VI_TONED = set("àáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ")
MAX_ROWS_SHOWN = 12


def detect_language(text: str) -> str:
    """'vi' when the text is Vietnamese, else 'en'."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "en"
    marked = sum(1 for c in letters if c in _VI_LETTERS or c.lower() in _VI_TONED)
    if any(c in _VI_LETTERS for c in letters) or marked / len(letters) > 0.04:
        return "vi"
    return "en"


def _fmt(value) -> str:
    value = jsonable(value)
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return "nothing" if value is None else str(value)


def direct_answer(table: ResultTable, language: str) -> str | None:
    """A templated sentence for results that need no summarising, else None."""
    if table.row_count == 0:
        return ("Không có dữ liệu nào phù hợp với câu hỏi." if language == "vi"
                else "No rows match the question.")
    if table.row_count == 1 and len(table.columns) == 1:
        value = _fmt(table.rows[0][0])
        return f"Kết quả: {value}." if language == "vi" else f"The answer is {value}."
    return None


def count_sentence(table: ResultTable, language: str) -> str:
    n = f"{table.row_count:,}{'+' if table.truncated else ''}"
    return f"Tìm thấy {n} dòng." if language == "vi" else f"Found {n} rows."


def result_csv(table: ResultTable, limit: int = MAX_ROWS_SHOWN) -> str:
    lines = [" | ".join(table.columns)]
    lines += [" | ".join(_fmt(v) for v in row) for row in table.rows[:limit]]
    return "\n".join(lines)


def _complete(text: str) -> bool:
    return "\n\n" in text.strip() or text.count("\n") >= 3


class Answerer:
    """Turns (question, result) into one or two sentences."""

    def __init__(self, model: Text2SqlModel | None, use_model: bool = True,
                 max_new_tokens: int = 64) -> None:
        self.model = model
        self.use_model = use_model and model is not None
        self.max_new_tokens = max_new_tokens

    def messages(self, question: str, table: ResultTable, language: str) -> Sequence[dict]:
        lang = "Vietnamese" if language == "vi" else "English"
        shown = min(table.row_count, MAX_ROWS_SHOWN)
        more = f", first {shown} shown" if table.row_count > shown else ""
        return [
            {"role": "system", "content": (
                "You summarise database query results for a chat user. Answer the question "
                f"in one or two short sentences in {lang}, using only the data shown. "
                "Do not mention SQL or tables.")},
            {"role": "user", "content": (
                f"Question: {question}\n\nResult ({table.row_count} rows{more}):\n"
                f"{result_csv(table)}")},
        ]

    def uses_model(self, table: ResultTable) -> bool:
        """Whether phrasing this result takes a generation (seconds on a CPU)."""
        return self.use_model and direct_answer(table, "en") is None

    def instant(self, question: str, table: ResultTable) -> str:
        """The templated answer, available at once: shown while the model phrases one."""
        language = detect_language(question)
        return direct_answer(table, language) or count_sentence(table, language)

    def answer(self, question: str, table: ResultTable) -> str:
        if not self.uses_model(table):
            return self.instant(question, table)
        language = detect_language(question)
        assert self.model is not None
        with deferrable():  # the table is shown already; SQL still to write goes first
            generation = self.model.generate(
                self.messages(question, table, language), self.max_new_tokens, _complete
            )
        text = " ".join(unicodedata.normalize("NFC", generation.text).split())
        return text or count_sentence(table, language)
