"""The generated sample database: exact schema, realistic and deterministic data."""

from __future__ import annotations

import hashlib
import sqlite3

import sqlalchemy as sa

from nlsql.db.sampledb import create_sample_database
from nlsql.schema import reflect_schema, schema_text

EXPECTED = {
    "Department": ["DepartmentId", "DepartmentName"],
    "GroupDC": ["GroupDCId", "DepartmentId", "GroupDCName"],
    "Author": ["AuthorId", "AuthorName", "DepartmentId", "GroupDCId"],
    "Job": ["JobId", "JobName"],
    "Tool": ["ToolId", "ToolName", "ToolDescription"],
    "Jidouka": ["JidoukaId", "ProductApply", "ImprovementName", "SoftwareUsing", "Description",
                "Video", "DetailDocument", "TotalJobApplied", "TotalTimeSaved", "DateCreate",
                "JobId", "AuthorId", "DepartmentId", "GroupDCId"],
    "JidoukaTool": ["JidoukaId", "ToolId"],
}


def test_tables_and_columns_exact(sample_url):
    schema = reflect_schema(sa.create_engine(sample_url))
    assert {t.name: t.column_names for t in schema.tables} == EXPECTED


def test_keys(sample_url):
    schema = reflect_schema(sa.create_engine(sample_url))
    jid = schema.table("Jidouka")
    assert [c.name for c in jid.columns if c.primary_key] == ["JidoukaId"]
    refs = {fk.ref_table for fk in jid.foreign_keys}
    assert refs == {"Job", "Author", "Department", "GroupDC"}
    link = schema.table("JidoukaTool")
    assert {c.name for c in link.columns if c.primary_key} == {"JidoukaId", "ToolId"}
    assert {fk.ref_table for fk in link.foreign_keys} == {"Jidouka", "Tool"}


def test_realistic_content(sample_db):
    db = sqlite3.connect(sample_db)
    names = [r[0] for r in db.execute("SELECT DepartmentName FROM Department ORDER BY 1")]
    assert names == ["DC1", "DC2", "DC3", "DC4", "DC5"]
    assert db.execute("SELECT COUNT(*) FROM Jidouka").fetchone()[0] >= 300
    years = {r[0] for r in db.execute("SELECT DISTINCT strftime('%Y', DateCreate) FROM Jidouka")}
    assert years == {"2022", "2023", "2024", "2025"}
    authors = [r[0] for r in db.execute("SELECT AuthorName FROM Author")]
    assert any("Nguyễn" in a or "Trần" in a for a in authors)
    tools = {r[0] for r in db.execute("SELECT ToolName FROM Tool")}
    assert {"Python", "Excel VBA", "Power Automate", "UiPath"} <= tools
    orphans = db.execute(
        "SELECT COUNT(*) FROM JidoukaTool jt LEFT JOIN Tool t ON t.ToolId = jt.ToolId "
        "WHERE t.ToolId IS NULL").fetchone()[0]
    assert orphans == 0
    # an author's department is the department of the author's group
    mismatched = db.execute(
        "SELECT COUNT(*) FROM Author a JOIN GroupDC g ON g.GroupDCId = a.GroupDCId "
        "WHERE g.DepartmentId <> a.DepartmentId").fetchone()[0]
    assert mismatched == 0


def _content_hash(path) -> str:
    db = sqlite3.connect(path)
    digest = hashlib.sha256()
    for table in EXPECTED:
        for row in db.execute(f'SELECT * FROM "{table}" ORDER BY 1, 2'):
            digest.update(repr(row).encode())
    return digest.hexdigest()


def test_deterministic(tmp_path, sample_db):
    again = create_sample_database(tmp_path / "again.sqlite")
    assert _content_hash(again) == _content_hash(sample_db)
    other = create_sample_database(tmp_path / "other.sqlite", seed=7)
    assert _content_hash(other) != _content_hash(sample_db)


def test_schema_text_shows_values_and_keys(sample_url):
    text = schema_text(reflect_schema(sa.create_engine(sample_url)))
    assert "CREATE TABLE Jidouka (" in text
    assert "'DC2'" in text  # the model must learn how departments are spelled
    assert "DepartmentId INTEGER REFERENCES Department(DepartmentId)," in text
    assert "PRIMARY KEY (JidoukaId, ToolId)" in text
