"""An asker with the pipeline's chat surface that answers from a fixed table.

For tests of what the chat layers do with a table-first turn, without a model.
"""

from __future__ import annotations

from nlsql import Answer, ResultTable

TABLE = ResultTable(("DepartmentName", "Saved"), (("DC1", 10), ("DC2", 20)))


class Asker:
    """The pipeline's chat surface, answering from a fixed table (no model needed)."""

    def __init__(self, phrase_error: Exception | None = None) -> None:
        self.phrase_error = phrase_error
        self.asked_to_phrase = 0

    def ask(self, question, history, *, phrase=True):
        answer = Answer(question=question, sql="SELECT 1", table=TABLE,
                        answer="Found 2 rows.", timings={"total": 0.1})
        if phrase:
            answer.answer = "DC2 saved the most."
        else:
            answer.unphrased = True
        return answer

    def phrase(self, answer):
        self.asked_to_phrase += 1
        if self.phrase_error is not None:
            raise self.phrase_error
        answer.answer, answer.unphrased = "DC2 saved the most.", False
        return answer

    def run_sql(self, sql):
        raise NotImplementedError
