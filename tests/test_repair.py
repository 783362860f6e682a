"""Mechanical repair of wrong column qualifiers, checked by running the queries."""

from __future__ import annotations

import dataclasses

import pytest

from nlsql.errors import SqlFailed, SqlRejected
from nlsql.pipeline import Text2Sql
from nlsql.repair import repair_columns
from tests.conftest import guarded_rows as _rows


@pytest.fixture(scope="module")
def database(sample_database):
    return sample_database



def _repair(database, sql):
    return repair_columns(sql, database.schema(), "sqlite")


@pytest.mark.parametrize("broken, meant", [
    # the column sits on the other joined table
    ("SELECT d.AuthorName FROM Author AS a JOIN Department AS d "
     "ON a.DepartmentId = d.DepartmentId WHERE d.DepartmentName = 'DC2'",
     "SELECT a.AuthorName FROM Author AS a JOIN Department AS d "
     "ON a.DepartmentId = d.DepartmentId WHERE d.DepartmentName = 'DC2'"),
    # a bare column both joined tables have (SQLite: "ambiguous column name")
    ("SELECT DepartmentId, COUNT(*) FROM Author AS a JOIN Department AS d "
     "ON a.DepartmentId = d.DepartmentId GROUP BY DepartmentId",
     "SELECT a.DepartmentId, COUNT(*) FROM Author AS a JOIN Department AS d "
     "ON a.DepartmentId = d.DepartmentId GROUP BY a.DepartmentId"),
    # the table's name where the query gave it an alias
    ("SELECT Author.AuthorName FROM Author AS a WHERE a.AuthorId < 4",
     "SELECT a.AuthorName FROM Author AS a WHERE a.AuthorId < 4"),
    # a join key the table does not have: the foreign key says which column pairs up
    ("SELECT COUNT(*) FROM Jidouka AS j JOIN Author AS au ON j.Author = au.AuthorId",
     "SELECT COUNT(*) FROM Jidouka AS j JOIN Author AS au ON j.AuthorId = au.AuthorId"),
    ("SELECT t.ToolName, COUNT(*) FROM JidoukaTool AS jt JOIN Tool AS t "
     "ON jt.Id = t.ToolId GROUP BY t.ToolName",
     "SELECT t.ToolName, COUNT(*) FROM JidoukaTool AS jt JOIN Tool AS t "
     "ON jt.ToolId = t.ToolId GROUP BY t.ToolName"),
    # a join on a column only a third table shares: the one foreign key between the two
    # joined tables is the join (not another copy of Department joined on its name)
    ("SELECT COUNT(*) FROM Jidouka AS j JOIN Department AS d "
     "ON j.DepartmentName = d.DepartmentName WHERE d.DepartmentName = 'DC2'",
     "SELECT COUNT(*) FROM Jidouka AS j JOIN Department AS d "
     "ON j.DepartmentId = d.DepartmentId WHERE d.DepartmentName = 'DC2'"),
    # ... in either direction of the foreign key
    ("SELECT a.AuthorName, COUNT(*) FROM Author AS a JOIN Jidouka AS j "
     "ON a.JidoukaId = j.JidoukaId GROUP BY a.AuthorName",
     "SELECT a.AuthorName, COUNT(*) FROM Author AS a JOIN Jidouka AS j "
     "ON a.AuthorId = j.AuthorId GROUP BY a.AuthorName"),
    # a column of the table a foreign key points at, which the query never joined
    ("SELECT j.ImprovementName, j.AuthorName FROM Jidouka AS j WHERE j.TotalTimeSaved > 100",
     "SELECT j.ImprovementName, a.AuthorName FROM Jidouka AS j JOIN Author AS a "
     "ON j.AuthorId = a.AuthorId WHERE j.TotalTimeSaved > 100"),
    ("SELECT jt.ToolName, COUNT(*) FROM JidoukaTool AS jt JOIN Jidouka AS j "
     "ON jt.JidoukaId = j.JidoukaId GROUP BY jt.ToolName",
     "SELECT t.ToolName, COUNT(*) FROM JidoukaTool AS jt JOIN Tool AS t ON jt.ToolId = "
     "t.ToolId JOIN Jidouka AS j ON jt.JidoukaId = j.JidoukaId GROUP BY t.ToolName"),
    # a table the query names but never joined, one foreign key away
    ("SELECT COUNT(*) FROM Jidouka WHERE strftime('%Y', DateCreate) = '2023' "
     "AND Department.DepartmentName = 'DC4'",
     "SELECT COUNT(*) FROM Jidouka AS j JOIN Department AS d ON j.DepartmentId = "
     "d.DepartmentId WHERE strftime('%Y', j.DateCreate) = '2023' AND d.DepartmentName = 'DC4'"),
    ("SELECT a.AuthorName, Department.DepartmentName FROM Author AS a",
     "SELECT a.AuthorName, d.DepartmentName FROM Author AS a LEFT JOIN Department AS d "
     "ON a.DepartmentId = d.DepartmentId"),
    # a bare column the joined table also has is named by the one table that has it now
    ("SELECT DepartmentId, j.AuthorName FROM Jidouka AS j",
     "SELECT j.DepartmentId, a.AuthorName FROM Jidouka AS j LEFT JOIN Author AS a "
     "ON j.AuthorId = a.AuthorId"),
    ("SELECT COUNT(DISTINCT JidoukaId) FROM JidoukaTool JOIN Tool "
     "ON JidoukaTool.ToolId = Tool.ToolId WHERE Jidouka.TotalTimeSaved > 50",
     "SELECT COUNT(DISTINCT jt.JidoukaId) FROM JidoukaTool AS jt JOIN Jidouka AS j "
     "ON jt.JidoukaId = j.JidoukaId JOIN Tool AS t ON jt.ToolId = t.ToolId "
     "WHERE j.TotalTimeSaved > 50"),
])
def test_broken_reference_is_repaired_to_the_working_query(database, broken, meant):
    with pytest.raises(SqlFailed):
        _rows(database, broken)
    fixed = _repair(database, broken)
    assert fixed is not None
    assert _rows(database, fixed) == _rows(database, meant)


@pytest.mark.parametrize("sql", [
    "SELECT a.AuthorName FROM Author AS a JOIN Department AS d "
    "ON a.DepartmentId = d.DepartmentId",
    # correlated subquery: the inner query reads the outer alias, which is valid
    "SELECT AuthorName FROM Author AS a WHERE EXISTS "
    "(SELECT 1 FROM Jidouka AS j WHERE j.AuthorId = a.AuthorId AND j.TotalTimeSaved > 100)",
    "SELECT AuthorName FROM Author WHERE DepartmentId IN "
    "(SELECT DepartmentId FROM Department WHERE DepartmentName = 'DC1')",
    # an output alias in ORDER BY is not a column
    "SELECT d.DepartmentName, COUNT(*) AS n FROM Author AS a JOIN Department AS d "
    "ON a.DepartmentId = d.DepartmentId GROUP BY d.DepartmentName ORDER BY n DESC",
    "SELECT x.name, x.c FROM (SELECT ToolName AS name, 1 AS c FROM Tool) AS x",
    "WITH t AS (SELECT ToolId FROM JidoukaTool) SELECT COUNT(*) FROM t",
    # the outer table by its name inside a subquery that aliases the same table
    "SELECT AuthorName FROM Author WHERE EXISTS (SELECT 1 FROM Author AS a2 "
    "WHERE a2.DepartmentId = Author.DepartmentId AND a2.AuthorId <> Author.AuthorId)",
    # USING merges the two DepartmentId columns into one
    "SELECT DepartmentId, AuthorName FROM Author JOIN Department USING (DepartmentId)",
    "SELECT ToolName FROM Tool UNION SELECT JobName FROM Job",
    # SQLite's implicit rowid is a column of every table
    "SELECT a.AuthorName FROM Author AS a JOIN Jidouka AS j ON a.rowid = j.AuthorId",
])
def test_valid_queries_are_never_touched(database, sql):
    _rows(database, sql)  # runs as written
    assert _repair(database, sql) is None


@pytest.mark.parametrize("sql", [
    "SELECT a.Budget FROM Author AS a",                 # no table has it
    "SELECT Nope FROM Author",                          # nothing to choose
    "SELECT a.ToolName FROM Author AS a JOIN Nowhere AS n ON a.AuthorId = n.id",
    "SELECT FROM WHERE",                                # not SQL at all
    # two tables have the bare column and nothing says they agree: the model must choose
    "SELECT DepartmentId FROM Author AS a JOIN Jidouka AS j ON a.AuthorId = j.AuthorId",
    # Author, joined before, has GroupDCId: a wrong alias, not a wrong join key
    "SELECT a.AuthorName, g.GroupDCName FROM Author AS a JOIN Department AS d "
    "ON a.DepartmentId = d.DepartmentId JOIN GroupDC AS g ON d.GroupDCId = g.GroupDCId",
    # Tool is reached through the link table only (many-to-many): the model must join it
    "SELECT COUNT(*) FROM Jidouka WHERE Tool.ToolName = 'UiPath'",
    # two tables of the query have a foreign key to Department: which one is meant?
    "SELECT COUNT(*) FROM Jidouka AS j JOIN Author AS a ON j.AuthorId = a.AuthorId "
    "WHERE Department.DepartmentName = 'DC1'",
])
def test_unrepairable_queries_are_left_alone(database, sql):
    assert _repair(database, sql) is None


def test_a_join_is_only_added_when_one_foreign_key_leads_to_the_column():
    from nlsql.schema import Column, ForeignKey, Schema, Table

    schema = Schema("sqlite", (
        Table("a", (Column("id", "INTEGER", True), Column("b_id", "INTEGER"),
                    Column("c_id", "INTEGER")),
              (ForeignKey(("b_id",), "b", ("id",)), ForeignKey(("c_id",), "c", ("id",)))),
        Table("b", (Column("id", "INTEGER", True), Column("name", "TEXT"),
                    Column("size", "INTEGER"))),
        Table("c", (Column("id", "INTEGER", True), Column("name", "TEXT"))),
    ))
    assert repair_columns("SELECT x.name FROM a AS x", schema, "sqlite") is None  # b or c?
    fixed = repair_columns("SELECT x.size, x.id FROM a AS x", schema, "sqlite")
    # a left join: rows whose key is empty stay
    assert fixed == "SELECT b.size, x.id FROM a AS x LEFT JOIN b AS b ON x.b_id = b.id"


def test_a_join_key_is_only_rewritten_when_one_foreign_key_ties_the_tables():
    from nlsql.schema import Column, ForeignKey, Schema, Table

    schema = Schema("sqlite", (
        Table("flight", (Column("id", "INTEGER", True), Column("src", "TEXT"),
                         Column("dst", "TEXT")),
              (ForeignKey(("src",), "airport", ("code",)),
               ForeignKey(("dst",), "airport", ("code",)))),
        Table("airport", (Column("code", "TEXT", True), Column("city", "TEXT"))),
        Table("city", (Column("city", "TEXT", True),)),
    ))
    # source or destination? two foreign keys tie flight to airport: the model must say
    assert repair_columns("SELECT f.id FROM flight AS f JOIN airport AS a ON f.city = a.city",
                          schema, "sqlite") is None


def test_rewritten_names_keep_the_quoting_their_dialect_needs(database):
    schema = dataclasses.replace(database.schema(), dialect="postgresql")
    fixed = repair_columns('SELECT COUNT(*) FROM "Jidouka" AS j JOIN "Department" AS d '
                           'ON j."DepartmentName" = d."DepartmentName"', schema, "postgres")
    # PostgreSQL folds unquoted names to lower case: DepartmentId would not exist
    assert fixed is not None and 'ON j."DepartmentId" = d."DepartmentId"' in fixed


def test_the_pipeline_runs_the_repaired_query(database, tiny_model):
    engine = Text2Sql(database, tiny_model)
    guarded = engine.checked_sql(
        "SELECT j.DepartmentName, COUNT(*) FROM Jidouka AS j JOIN Department AS d "
        "ON j.DepartmentId = d.DepartmentId GROUP BY d.DepartmentName")
    assert "d.DepartmentName" in guarded.sql and "j.DepartmentName" not in guarded.sql
    assert database.run(guarded).row_count > 0
    # the guard still judges the repaired text: a write is refused, repaired or not
    with pytest.raises(SqlRejected):
        engine.checked_sql("DELETE FROM Author WHERE Author.AuthorId = 1")
