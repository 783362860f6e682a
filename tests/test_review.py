"""Schema-aware hints that let the model repair its own query."""

from __future__ import annotations

import sqlalchemy as sa

from nlsql.review import (
    column_equal_to_two_values,
    id_compared_with_text,
    missing_column_hint,
    problem_before_running,
)
from nlsql.schema import reflect_schema


def _schema(sample_url):
    return reflect_schema(sa.create_engine(sample_url))


def test_missing_column_names_its_table(sample_url):
    schema = _schema(sample_url)
    hint = missing_column_hint(schema, "The database could not run the query: "
                                       "no such column: T2.DepartmentName")
    assert hint == " DepartmentName is a column of Department: join that table."
    assert "GroupDCName is a column of GroupDC" in missing_column_hint(
        schema, 'column "GroupDCName" does not exist')
    assert missing_column_hint(schema, "no such column: Budget") == \
        " No table has a column Budget."
    assert missing_column_hint(schema, "syntax error") == ""


def test_id_compared_with_name(sample_url):
    schema = _schema(sample_url)
    hint = id_compared_with_text(
        schema, "SELECT COUNT(*) FROM Author WHERE DepartmentId = 'DC3'", "sqlite")
    assert hint and "DepartmentId holds numbers" in hint and "Department.DepartmentName" in hint
    assert id_compared_with_text(
        schema, "SELECT * FROM Author WHERE DepartmentId IN ('DC1', 'DC2')", "sqlite")


def test_correct_queries_pass(sample_url):
    schema = _schema(sample_url)
    for sql in [
        "SELECT COUNT(*) FROM Author a JOIN Department d ON a.DepartmentId = d.DepartmentId "
        "WHERE d.DepartmentName = 'DC3'",
        "SELECT * FROM Author WHERE DepartmentId = '3'",
        "SELECT * FROM Jidouka WHERE strftime('%Y', DateCreate) = '2024'",
        "SELECT * FROM Tool WHERE ToolName = 'Python'",
    ]:
        assert id_compared_with_text(schema, sql, "sqlite") is None, sql


def test_missing_column_hint_spells_out_the_join(sample_url):
    schema = _schema(sample_url)
    error = "The database could not run the query: no such column: Tool.ToolName"
    # through the link table, by its two foreign keys
    hint = missing_column_hint(
        schema, error, "SELECT COUNT(*) FROM Jidouka WHERE Tool.ToolName = 'UiPath'", "sqlite")
    assert hint == (" ToolName is a column of Tool: join it with JOIN JidoukaTool ON "
                    "JidoukaTool.JidoukaId = Jidouka.JidoukaId JOIN Tool ON "
                    "JidoukaTool.ToolId = Tool.ToolId."), hint
    # one foreign key away
    hint = missing_column_hint(
        schema, "no such column: DepartmentName",
        "SELECT COUNT(*) FROM Author AS a WHERE a.DepartmentName = 'DC1'", "sqlite")
    assert hint == (" DepartmentName is a column of Department: join it with JOIN Department "
                    "ON Author.DepartmentId = Department.DepartmentId."), hint
    # the owner is in the query already, or the query does not parse: the plain hint
    plain = " DepartmentName is a column of Department: join that table."
    assert missing_column_hint(
        schema, "no such column: d.DepartmentName",
        "SELECT COUNT(*) FROM Author a JOIN Department b ON a.DepartmentId = b.DepartmentId "
        "WHERE d.DepartmentName = 'DC1'", "sqlite") == plain
    assert missing_column_hint(schema, "no such column: DepartmentName", "SELEC (", "") == plain


def test_a_column_asked_to_equal_two_values_at_once_is_caught():
    both = ("SELECT T1.Name FROM country AS T1 JOIN countrylanguage AS T2 ON T1.Code = "
            "T2.CountryCode WHERE T2.Language = 'English' AND T1.Continent = 'Europe' "
            "AND (T2.Language = 'French')")
    hint = column_equal_to_two_values(both, "sqlite")
    assert hint and "T2.Language to equal 'English' and 'French'" in hint and "INTERSECT" in hint
    # in a subquery, in HAVING, and with the literal written first
    assert column_equal_to_two_values(
        "SELECT a FROM t WHERE id IN (SELECT id FROM u WHERE 2 = u.k AND u.k = 3)", "sqlite")
    assert column_equal_to_two_values(
        "SELECT g FROM t GROUP BY g HAVING g = 'x' AND g = 'y'", "sqlite")


def test_conditions_that_can_hold_together_pass():
    for sql in [
        "SELECT * FROM t WHERE k = 'a' OR k = 'b'",                # either: fine
        "SELECT * FROM t WHERE k IN ('a', 'b') AND k = 'a'",
        "SELECT * FROM t WHERE NOT (k = 'a' AND k = 'b')",
        "SELECT * FROM t AS a JOIN t AS b ON a.id = b.id WHERE a.k = 'x' AND b.k = 'y'",
        "SELECT * FROM t WHERE k = 1 AND k = 1.0 AND k = '1'",     # one value, three spellings
        "SELECT * FROM t WHERE k = 'DC2' AND k = 'dc2'",           # equal where case is ignored
        "SELECT * FROM t WHERE (k = 'a' AND j = 1) OR (k = 'b' AND j = 2)",
        "SELECT * FROM t WHERE k = 'a' AND (SELECT k FROM u WHERE k = 'b') = 'b'",
    ]:
        assert column_equal_to_two_values(sql, "sqlite") is None, sql


def test_the_pipeline_check_before_running_covers_both(sample_url):
    schema = _schema(sample_url)
    assert "holds numbers" in problem_before_running(
        schema, "SELECT * FROM Author WHERE DepartmentId = 'DC3'", "sqlite")
    assert "same row" in problem_before_running(
        schema, "SELECT * FROM Tool WHERE ToolName = 'Python' AND ToolName = 'UiPath'",
        "sqlite")
    assert problem_before_running(schema, "SELECT * FROM Tool WHERE ToolName = 'Python'",
                                  "sqlite") is None
