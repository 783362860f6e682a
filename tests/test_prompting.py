"""Prompt construction and SQL extraction from model replies."""

from __future__ import annotations

import pytest

from nlsql.prompting import (
    REPLY_START,
    HistoryTurn,
    build_messages,
    extract_sql,
    reply_is_complete,
    retry_messages,
    sql_is_complete,
    statement_end,
    system_prompt,
    with_reply_start,
)


@pytest.mark.parametrize("reply, sql", [
    ("```sql\nSELECT 1\n```", "SELECT 1"),
    ("```sql\nSELECT a\nFROM t;\n```\nThis query lists a.", "SELECT a\nFROM t"),
    ("```\nWITH x AS (SELECT 1) SELECT * FROM x\n```", "WITH x AS (SELECT 1) SELECT * FROM x"),
    ("SELECT COUNT(*) FROM t;", "SELECT COUNT(*) FROM t"),
    ("Here is the query:\nSELECT a FROM t; -- done", "SELECT a FROM t"),
    ("```sql\nSELECT a FROM t", "SELECT a FROM t"),  # unterminated fence (max tokens)
    ("To answer, join with the Department table.\nSELECT 1", "SELECT 1"),
    ("I can only answer questions about the database.", None),
    ("", None),
    ("We start with the `Department` table on the DepartmentId column", None),
])
def test_extract_sql(reply, sql):
    assert extract_sql(reply) == sql


@pytest.mark.parametrize("text, done", [
    ("```sql\nSELECT 1\n", False),
    ("```sql\nSELECT 1\n```", True),
    ("SELECT 1", False),
    ("SELECT 1;", True),
    ("```sql\nSELECT 1;", True),  # the closing fence is not worth two more tokens
    ("```sql\nSELECT * FROM t WHERE name = 'R&D;", False),  # inside a string
    ("```sql\nSELECT * FROM t WHERE name = 'R&D; Sales';", True),
    ("```sql\nSELECT [a;b] FROM t -- note; more", False),
    ("```sql\nSELECT a FROM t /* x; */", False),
    ("To answer this; we join\n```sql\nSELECT 1", True),  # prose: as before
])
def test_sql_is_complete(text, done):
    assert sql_is_complete(text) is done


@pytest.mark.parametrize("sql, first", [
    ("SELECT 1; SELECT 2", "SELECT 1"),
    ("SELECT 'a;b', \"c;d\", `e;f`, [g;h] FROM t; x", "SELECT 'a;b', \"c;d\", `e;f`, [g;h] FROM t"),
    ("SELECT 'it''s; fine' FROM t;", "SELECT 'it''s; fine' FROM t"),
    ("SELECT 1 -- a; b\n;", "SELECT 1 -- a; b\n"),
    ("SELECT 1 /* ; */ ;", "SELECT 1 /* ; */ "),
    ("SELECT 'open;", None),
    ("SELECT 1 -- open;", None),
])
def test_statement_end_skips_strings_names_and_comments(sql, first):
    end = statement_end(sql)
    assert (None if end is None else sql[:end]) == first


def test_a_begun_reply_is_complete_by_the_same_rule():
    assert REPLY_START.startswith("```") and REPLY_START.endswith("\n")
    assert not reply_is_complete("SELECT 1\n")
    assert reply_is_complete("SELECT 1\n```") and reply_is_complete("SELECT 1;")
    assert extract_sql(REPLY_START + "SELECT name FROM t WHERE x = 'a;b';\n```") == \
        "SELECT name FROM t WHERE x = 'a;b'"
    messages = [{"role": "user", "content": "q"}]
    assert with_reply_start(messages)[-1] == {"role": "assistant", "content": REPLY_START}
    assert messages == [{"role": "user", "content": "q"}]


def test_messages_carry_schema_history_and_question():
    history = [HistoryTurn("how many improvements in 2024?", "SELECT COUNT(*) FROM Jidouka"),
               HistoryTurn("failed one", None)]
    messages = build_messages("CREATE TABLE Jidouka (JidoukaId INT);", "tsql",
                              "and in 2023?", history)
    assert messages[0]["role"] == "system"
    assert "CREATE TABLE Jidouka" in messages[0]["content"]
    assert "TOP n" in messages[0]["content"]  # dialect hint
    assert [m["role"] for m in messages[1:]] == ["user", "assistant", "user"]
    assert "SELECT COUNT(*) FROM Jidouka" in messages[2]["content"]
    assert messages[-1]["content"].startswith(
        "and in 2023?\n(Follow-up: start from the previous query")
    assert "Tables: [Jidouka]" in messages[-1]["content"]


def test_system_prompt_is_a_stable_prefix():
    # the schema part must not depend on the question, so its KV cache can be reused
    one = build_messages("S", "sqlite", "q1")[0]
    two = build_messages("S", "sqlite", "q2", [HistoryTurn("q0", "SELECT 1")])[0]
    assert one == two == {"role": "system", "content": system_prompt("S", "sqlite")}


def test_schema_linking_names_tables_columns_values():
    from nlsql.prompting import schema_linking

    line = schema_linking("SELECT COUNT(*) FROM Jidouka j JOIN Department d ON "
                          "d.DepartmentId = j.DepartmentId WHERE d.DepartmentName = 'DC4' "
                          "AND strftime('%Y', j.DateCreate) = '2023'")
    assert line.startswith("{Tables: [Department, Jidouka]")
    assert "DepartmentName" in line and "'DC4'" in line and "'2023'" in line
    assert schema_linking("not sql ((") == ""


def test_retry_messages_show_the_error():
    base = build_messages("S", "sqlite", "q")
    retry = retry_messages(base, "SELECT nope FROM t", "no such column: nope")
    assert retry[:len(base)] == base
    assert "no such column: nope" in retry[-1]["content"]
