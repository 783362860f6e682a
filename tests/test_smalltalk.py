"""Greetings, thanks and help get a reply in words; anything else still reaches the model."""

from __future__ import annotations

import pytest

from nlsql import Answerer, Text2Sql
from nlsql.models import Generation
from nlsql.smalltalk import SmallTalk, classify, reply


@pytest.mark.parametrize("text, kind", [
    ("hello", SmallTalk.INTRO),
    ("Hi there!", SmallTalk.INTRO),
    ("<@U0ASKDB> hey", SmallTalk.INTRO),
    ("what can you do?", SmallTalk.INTRO),
    ("Who are you?", SmallTalk.INTRO),
    ("help", SmallTalk.INTRO),
    ("Xin chào!", SmallTalk.INTRO),
    ("Bạn là ai?", SmallTalk.INTRO),
    ("thanks!", SmallTalk.THANKS),
    ("Thank you so much 🙏", SmallTalk.THANKS),
    ("ok, thanks", SmallTalk.THANKS),
    ("cảm ơn bạn nhé", SmallTalk.THANKS),
    ("bye", SmallTalk.BYE),
    ("great", SmallTalk.ACK),
    (":+1:", SmallTalk.ACK),
    ("hi, what can you do?", SmallTalk.INTRO),
])
def test_small_talk_is_recognised(text, kind):
    assert classify(text) is kind


@pytest.mark.parametrize("text", [
    "hi, how many tools are there?",
    "thanks, and how many of those were in 2023?",
    "help me find the total time saved by DC2",
    "show me the thanks table",
    "How many?",
    "top 5 authors",
    "ok so which department saved the most?",
    "Có bao nhiêu cải tiến?",
    "",
    "the",
])
def test_anything_with_a_question_in_it_is_left_to_the_model(text):
    assert classify(text) is None


def test_replies_follow_the_askers_language_and_name_the_tables():
    tables = ["Author", "Department", "Jidouka", "Tool", "Job", "JidoukaTool", "Process"]
    english = reply(SmallTalk.INTRO, "hello", tables)
    assert "Author, Department" in english and "1 more" in english
    assert "Process" not in english
    vietnamese = reply(SmallTalk.INTRO, "xin chào", tables)
    assert vietnamese.startswith("Xin chào") and "Author" in vietnamese
    assert reply(SmallTalk.THANKS, "cảm ơn", []).startswith("Không có gì")
    assert "welcome" in reply(SmallTalk.THANKS, "thanks", [])
    assert "this database." in reply(SmallTalk.INTRO, "hi", [])  # no tables: no list


class _Counting:
    """A model that must not be asked: small talk is answered without it."""

    name, adapter_version = "counting", None

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, messages, max_new_tokens=256, stop_when=None):
        self.calls += 1
        return Generation(text="SELECT COUNT(*) FROM Tool\n```", prompt_tokens=10,
                          new_tokens=5, prefill_s=0.0, decode_s=0.0)


def test_the_pipeline_answers_small_talk_in_words_and_questions_with_sql(sample_database):
    model = _Counting()
    engine = Text2Sql(sample_database, model, Answerer(model, use_model=False), retries=0)
    thanks = engine.ask("Thanks!")
    assert thanks.ok and thanks.sql is None and thanks.table is None
    assert "welcome" in thanks.answer and model.calls == 0
    hello = engine.ask("hello")
    assert "Jidouka" in hello.answer and model.calls == 0
    question = engine.ask("hi, how many tools are there?")
    assert model.calls == 1 and question.ok and question.table.rows[0][0] > 0
