"""Value linking: the question's phrases found among the database's values."""

from __future__ import annotations

import shutil
import time

import sqlalchemy as sa

from nlsql import values
from nlsql.db import ReadOnlyDatabase
from nlsql.pipeline import prompt_messages
from nlsql.prompting import Example
from nlsql.schema import Column, Schema, Table
from nlsql.values import ValueIndex, build_index, database_values, value_hint


def _hints(database, question):
    return {m.hint() for m in database_values(database).matches(question)}


def test_values_named_in_questions_are_found_in_their_columns(sample_url):
    db = ReadOnlyDatabase(sample_url)
    try:
        assert "Department.DepartmentName = 'DC2'" in _hints(
            db, "how many improvements did dc2 ship in 2024?")
        assert "Tool.ToolName = 'Power BI'" in _hints(db, "Which improvements use power bi?")
        # Vietnamese around the value: still found, spelled as the data spells it
        assert "Department.DepartmentName = 'DC3'" in _hints(
            db, "Phòng DC3 có bao nhiêu cải tiến?")
        assert _hints(db, "How many improvements are there in total?") == set()
    finally:
        db.dispose()


def test_longest_phrase_wins_and_common_words_are_ignored():
    index = ValueIndex()
    index.add("region", "name", ["North America", "America", "The", "2024", "x" * 80, None])
    index.add("country", "name", ["Georgia", "Guinea-Bissau"])
    index.add("state", "name", ["Georgia"])
    found = [m.hint() for m in index.matches("Cities of North America, Georgia and the "
                                            "Guinea-Bissau coast in 2024")]
    # two-word phrases first (so "America" alone is not reported), then in question order
    assert found == ["region.name = 'North America'", "country.name = 'Georgia'",
                     "state.name = 'Georgia'", "country.name = 'Guinea-Bissau'"]
    assert index.matches("the x") == []
    assert value_hint([]) == ""
    assert value_hint(index.matches("O'Brien in Georgia")) == \
        "(Values in the database: country.name = 'Georgia' (also state.name))"
    assert value_hint(index.matches("Georgia and North America")) == (
        "(Values in the database: region.name = 'North America'; "
        "country.name = 'Georgia' (also state.name))")
    index.add("airline", "country", ["georgia"])  # spelled otherwise: its own equality
    assert value_hint(index.matches("Georgia")) == (
        "(Values in the database: country.name = 'Georgia' (also state.name); "
        "airline.country = 'georgia')")


def test_an_unreadable_column_is_skipped():
    schema = Schema("sqlite", (Table("t", (
        Column("a", "TEXT", samples=("x",)), Column("b", "VARCHAR", samples=("Hanoi",)),
        Column("n", "INTEGER"), Column("notes", "TEXT"),  # long text: no samples shown
        Column("code", "VARCHAR", primary_key=True))),))
    asked = []

    def distinct(table, column, limit):
        asked.append(column)
        if column == "a":
            raise RuntimeError("permission denied")
        return ["Hanoi"] if column == "b" else ["HN1"]

    index = build_index(schema, distinct)
    assert asked == ["a", "b", "code"]  # numbers and long texts are not read, codes are
    assert [m.hint() for m in index.matches("offices in hanoi")] == ["t.b = 'Hanoi'"]
    assert not index.complete  # rebuilt soon, not kept for the hour
    assert build_index(schema, lambda *a: ["x"], budget_s=-1).columns_read == 0


def test_the_hint_goes_with_the_question_not_the_schema(sample_url):
    db = ReadOnlyDatabase(sample_url)
    try:
        plain = prompt_messages(db, "What did DC1 build?", link_values=False)
        linked = prompt_messages(db, "What did DC1 build?")
        assert linked[0] == plain[0]  # the system prefix (and its KV cache) is unchanged
        assert linked[-1]["content"] == ("What did DC1 build?\n(Values in the database: "
                                         "Department.DepartmentName = 'DC1')")
    finally:
        db.dispose()


def test_worked_examples_get_the_same_value_line(sample_url):
    db = ReadOnlyDatabase(sample_url)
    example = Example("How many improvements did DC2 make?", "SELECT COUNT(*) FROM x")
    try:
        messages = prompt_messages(db, "What did DC1 build?", examples=[example])
        assert messages[1]["content"] == ("How many improvements did DC2 make?\n(Values in "
                                          "the database: Department.DepartmentName = 'DC2')")
        assert "SELECT COUNT(*) FROM x" in messages[2]["content"]
        plain = prompt_messages(db, "What did DC1 build?", [], [example], link_values=False)
        assert plain[1]["content"] == example.question
    finally:
        db.dispose()


def test_new_values_are_linked_after_a_refresh(sample_db, tmp_path, monkeypatch):
    copy = tmp_path / "copy.sqlite"
    shutil.copy(sample_db, copy)
    db = ReadOnlyDatabase(f"sqlite:///{copy}")
    try:
        assert _hints(db, "What did DC9 build?") == set()
        with sa.create_engine(f"sqlite:///{copy}").begin() as conn:
            conn.execute(sa.text("INSERT INTO Department (DepartmentId, DepartmentName) "
                                 "VALUES (99, 'DC9')"))
        assert _hints(db, "What did DC9 build?") == set()  # cached for the hour
        monkeypatch.setattr(values, "REFRESH_S", 0.0)
        # the stale index keeps answering while a background thread rebuilds it
        for _ in range(100):
            if _hints(db, "What did DC9 build?"):
                break
            time.sleep(0.05)
        assert _hints(db, "What did DC9 build?") == {"Department.DepartmentName = 'DC9'"}
        monkeypatch.setattr(values, "REFRESH_S", 3600.0)
        while values._entries[db].refreshing:  # let the last refresh end before closing
            time.sleep(0.05)
    finally:
        db.dispose()
