"""The embedded sample database: our first users' improvement-tracking ("Jidouka") schema.

Generated, not committed: a seeded script gives every machine the same realistic data,
in SQLite by default or in any SQLAlchemy database (tests load it into PostgreSQL too).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

SEED = 20240601
N_IMPROVEMENTS = 420

metadata = sa.MetaData()
# plain 'YYYY-MM-DD HH:MM:SS' text, as people and SQLite's date functions expect
_SQLITE_DATETIME = sqlite.DATETIME(
    storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"
)

department = sa.Table(
    "Department", metadata,
    sa.Column("DepartmentId", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("DepartmentName", sa.Unicode(50), nullable=False),
)
group_dc = sa.Table(
    "GroupDC", metadata,
    sa.Column("GroupDCId", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("DepartmentId", sa.Integer, sa.ForeignKey("Department.DepartmentId")),
    sa.Column("GroupDCName", sa.Unicode(50), nullable=False),
)
author = sa.Table(
    "Author", metadata,
    sa.Column("AuthorId", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("AuthorName", sa.Unicode(100), nullable=False),
    sa.Column("DepartmentId", sa.Integer, sa.ForeignKey("Department.DepartmentId")),
    sa.Column("GroupDCId", sa.Integer, sa.ForeignKey("GroupDC.GroupDCId")),
)
job = sa.Table(
    "Job", metadata,
    sa.Column("JobId", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("JobName", sa.Unicode(100), nullable=False),
)
tool = sa.Table(
    "Tool", metadata,
    sa.Column("ToolId", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("ToolName", sa.Unicode(50), nullable=False),
    sa.Column("ToolDescription", sa.UnicodeText),
)
jidouka = sa.Table(
    "Jidouka", metadata,
    sa.Column("JidoukaId", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("ProductApply", sa.Unicode(100)),
    sa.Column("ImprovementName", sa.Unicode(200), nullable=False),
    sa.Column("SoftwareUsing", sa.Unicode(200)),
    sa.Column("Description", sa.UnicodeText),
    sa.Column("Video", sa.Unicode(300)),
    sa.Column("DetailDocument", sa.Unicode(300)),
    sa.Column("TotalJobApplied", sa.Integer),
    sa.Column("TotalTimeSaved", sa.Integer),
    sa.Column("DateCreate", sa.DateTime().with_variant(_SQLITE_DATETIME, "sqlite")),
    sa.Column("JobId", sa.Integer, sa.ForeignKey("Job.JobId")),
    sa.Column("AuthorId", sa.Integer, sa.ForeignKey("Author.AuthorId")),
    sa.Column("DepartmentId", sa.Integer, sa.ForeignKey("Department.DepartmentId")),
    sa.Column("GroupDCId", sa.Integer, sa.ForeignKey("GroupDC.GroupDCId")),
)
jidouka_tool = sa.Table(
    "JidoukaTool", metadata,
    sa.Column("JidoukaId", sa.BigInteger, sa.ForeignKey("Jidouka.JidoukaId"), primary_key=True),
    sa.Column("ToolId", sa.Integer, sa.ForeignKey("Tool.ToolId"), primary_key=True),
)

DEPARTMENTS = ["DC1", "DC2", "DC3", "DC4", "DC5"]
GROUP_SUFFIXES = ["Design", "Testing", "Production"]
TOOLS = [
    ("Python", "General-purpose scripting for data processing and automation"),
    ("Excel VBA", "Macros that automate spreadsheets and reports in Microsoft Excel"),
    ("Power Automate", "Microsoft's low-code workflow automation"),
    ("UiPath", "Robotic process automation for desktop and web applications"),
    ("Power BI", "Dashboards and interactive reports"),
    ("Google Apps Script", "Automation for Google Sheets, Docs and Gmail"),
    ("SQL", "Queries and stored procedures on the company databases"),
    ("Selenium", "Browser automation for web testing and data entry"),
    ("C#", "Desktop tools and add-ins built on .NET"),
    ("PowerShell", "Windows administration and file handling scripts"),
]
JOBS = [
    "Data entry", "Report generation", "Software testing", "Drawing check",
    "Document review", "Email handling", "Inventory tracking", "Invoice processing",
    "Test log analysis", "Schedule planning", "Quality inspection", "File management",
]
PRODUCTS = [
    "Car navigation", "Camera module", "Audio system", "ECU firmware", "Display unit",
    "Head-up display", "Infotainment", "Sensor board", "Internal tools",
]
ACTIONS = [
    "Automatic", "Batch", "One-click", "Scheduled", "Smart", "Fast", "Auto",
]
OBJECTS = [
    "test report generator", "drawing checker", "log analyzer", "invoice reconciler",
    "BOM comparator", "email classifier", "meeting minutes creator", "timesheet collector",
    "spec diff tool", "defect tracker sync", "file renamer", "data migration script",
    "screenshot capturer", "requirement tracer", "backup checker", "license monitor",
]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
          "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]
MIDDLE = ["Văn", "Thị", "Minh", "Đức", "Thanh", "Ngọc", "Quốc", "Hữu", "Thu", "Gia"]
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hoa", "Hùng",
         "Khánh", "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Phúc", "Phương", "Quân",
         "Quỳnh", "Sơn", "Tâm", "Thảo", "Trang", "Trung", "Tuấn", "Vy", "Yến"]


def _rows(rng: random.Random) -> dict[sa.Table, list[dict]]:
    rows: dict[sa.Table, list[dict]] = {t: [] for t in metadata.sorted_tables}
    for i, name in enumerate(DEPARTMENTS, 1):
        rows[department].append({"DepartmentId": i, "DepartmentName": name})
    gid = 0
    for dep_id, dep in enumerate(DEPARTMENTS, 1):
        for suffix in GROUP_SUFFIXES:
            gid += 1
            rows[group_dc].append(
                {"GroupDCId": gid, "DepartmentId": dep_id, "GroupDCName": f"{dep} {suffix}"}
            )
    names: set[str] = set()
    while len(names) < 60:
        names.add(f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}")
    for aid, name in enumerate(sorted(names), 1):
        group = rng.choice(rows[group_dc])
        rows[author].append({"AuthorId": aid, "AuthorName": name,
                             "DepartmentId": group["DepartmentId"],
                             "GroupDCId": group["GroupDCId"]})
    for jid, name in enumerate(JOBS, 1):
        rows[job].append({"JobId": jid, "JobName": name})
    for tid, (name, desc) in enumerate(TOOLS, 1):
        rows[tool].append({"ToolId": tid, "ToolName": name, "ToolDescription": desc})
    start = datetime(2022, 1, 1, 8, 0)
    span = (datetime(2025, 12, 31, 17, 0) - start).total_seconds()
    for jid in range(1, N_IMPROVEMENTS + 1):
        who = rng.choice(rows[author])
        tools = rng.sample(range(1, len(TOOLS) + 1), k=rng.choice([1, 1, 1, 2, 2, 3]))
        when = start + timedelta(seconds=int(rng.random() * span))
        name = f"{rng.choice(ACTIONS)} {rng.choice(OBJECTS)}"
        job_id = rng.randint(1, len(JOBS))
        saved = int(rng.lognormvariate(3.6, 1.0)) + 1
        rows[jidouka].append({
            "JidoukaId": jid,
            "ProductApply": rng.choice(PRODUCTS),
            "ImprovementName": name,
            "SoftwareUsing": ", ".join(TOOLS[t - 1][0] for t in tools),
            "Description": f"{name} for {JOBS[job_id - 1].lower()}: "
                           f"replaces manual work done every week.",
            "Video": f"https://intranet.example.com/jidouka/{jid}/demo.mp4"
                     if rng.random() < 0.6 else None,
            "DetailDocument": f"https://intranet.example.com/jidouka/{jid}/detail.pdf",
            "TotalJobApplied": rng.randint(1, 40),
            "TotalTimeSaved": saved,
            "DateCreate": when,
            "JobId": job_id,
            "AuthorId": who["AuthorId"],
            "DepartmentId": who["DepartmentId"],
            "GroupDCId": who["GroupDCId"],
        })
        for t in tools:
            rows[jidouka_tool].append({"JidoukaId": jid, "ToolId": t})
    return rows


def populate(engine: sa.Engine, seed: int = SEED) -> None:
    """Create the tables in ``engine`` (dropping old ones) and load the seeded rows."""
    metadata.drop_all(engine)
    metadata.create_all(engine)
    rows = _rows(random.Random(seed))
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if rows[table]:
                conn.execute(table.insert(), rows[table])


def create_sample_database(path: Path, seed: int = SEED) -> Path:
    """Write the sample database as a SQLite file (atomically: no half-made file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.unlink(missing_ok=True)
    engine = sa.create_engine(f"sqlite:///{tmp}")
    try:
        populate(engine, seed)
    finally:
        engine.dispose()
    tmp.replace(path)
    return path
