"""Schema-aware hints that let the model repair its own query."""

from __future__ import annotations

import sqlalchemy as sa

from nlsql.review import id_compared_with_text, missing_column_hint
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
