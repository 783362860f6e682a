"""SQLite's double-quoted values become single-quoted strings; names never do."""

from __future__ import annotations

import pytest

from nlsql.pipeline import Text2Sql
from nlsql.review import id_compared_with_text
from nlsql.sqlite_strings import sqlite_strings
from tests.conftest import guarded_rows as _rows


@pytest.fixture(scope="module")
def database(sample_database):
    return sample_database



@pytest.mark.parametrize("written, meant", [
    ('SELECT COUNT(*) FROM Department WHERE DepartmentName = "DC2"',
     "SELECT COUNT(*) FROM Department WHERE DepartmentName = 'DC2'"),
    ('SELECT DepartmentId FROM Department WHERE DepartmentName IN ("DC1", "DC3")',
     "SELECT DepartmentId FROM Department WHERE DepartmentName IN ('DC1', 'DC3')"),
    ('SELECT ToolName FROM Tool WHERE ToolName LIKE "%Python%" OR ToolName <> "Excel"',
     "SELECT ToolName FROM Tool WHERE ToolName LIKE '%Python%' OR ToolName <> 'Excel'"),
])
def test_values_become_strings_and_the_result_is_unchanged(database, written, meant):
    assert sqlite_strings(written, database.schema()) == meant
    assert _rows(database, written) == _rows(database, meant)  # SQLite read them so too


def test_a_value_on_the_left_of_a_comparison_too(database):
    assert sqlite_strings('SELECT COUNT(*) FROM Department WHERE "DC2" = DepartmentName',
                          database.schema()).endswith("WHERE 'DC2' = DepartmentName")


def test_an_embedded_quote_is_escaped(database):
    fixed = sqlite_strings('SELECT AuthorName FROM Author WHERE AuthorName = "O\'Neil"',
                           database.schema())
    assert fixed.endswith("= 'O''Neil'")


@pytest.mark.parametrize("sql", [
    # quoted names of the database, compared or not
    'SELECT "DepartmentName" FROM "Department" WHERE "DepartmentId" = "DepartmentId"',
    'SELECT d."DepartmentName" FROM Department AS d WHERE d.DepartmentId = 1',
    # an alias the query defines
    'SELECT DepartmentId, COUNT(*) AS "n" FROM Author GROUP BY DepartmentId HAVING 1 < "n"',
    "SELECT DepartmentName FROM Department WHERE DepartmentName = 'DC2'",
    # aliases defined without AS, CTE column lists: SQLite reads these as the column
    'SELECT * FROM (SELECT DepartmentId, COUNT(*) "n" FROM Author GROUP BY 1) WHERE 2 < "n"',
    'SELECT DepartmentId, COUNT(*) n FROM Author GROUP BY DepartmentId HAVING 2 < "n"',
    'WITH c("total") AS (SELECT COUNT(*) FROM Author) SELECT * FROM c WHERE 10 < "total"',
    # does not parse: left as written, the database says what is wrong
    'SELECT FROM WHERE = "DC2"',
])
def test_names_are_left_alone(database, sql):
    assert sqlite_strings(sql, database.schema()) == sql


def test_a_number_column_compared_with_a_double_quoted_name_is_caught(database, tiny_model):
    """The check that sends such a query back to the model now sees the text value."""
    engine = Text2Sql(database, tiny_model)
    guarded = engine.checked_sql('SELECT COUNT(*) FROM Author WHERE DepartmentId = "DC3"')
    assert "'DC3'" in guarded.sql
    assert id_compared_with_text(database.schema(), guarded.sql, "sqlite") is not None
