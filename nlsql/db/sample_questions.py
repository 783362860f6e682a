"""Questions about the sample database with gold SQL, in English and Vietnamese.

Used by the integration tests and `askdb bench`. Questions that share a
``thread`` are asked in order in one thread: the later ones are follow-ups.
"""

QUESTIONS: list[dict] = [
    {"question": "How many improvements did DC2 make in 2024?",
     "sql": "SELECT COUNT(*) FROM Jidouka j JOIN Department d ON d.DepartmentId = j.DepartmentId "
            "WHERE d.DepartmentName = 'DC2' AND strftime('%Y', j.DateCreate) = '2024'"},
    {"question": "How many improvements save more than 100 hours?",
     "sql": "SELECT COUNT(*) FROM Jidouka WHERE TotalTimeSaved > 100"},
    {"question": "What is the total time saved by each department?",
     "sql": "SELECT d.DepartmentName, SUM(j.TotalTimeSaved) FROM Jidouka j JOIN Department d "
            "ON d.DepartmentId = j.DepartmentId GROUP BY d.DepartmentName"},
    {"question": "Which author made the most improvements?",
     "sql": "SELECT a.AuthorName FROM Author a JOIN Jidouka j ON j.AuthorId = a.AuthorId "
            "GROUP BY a.AuthorId ORDER BY COUNT(*) DESC LIMIT 1"},
    {"question": "List the names of all tools.",
     "sql": "SELECT ToolName FROM Tool"},
    {"question": "How many improvements use UiPath?",
     "sql": "SELECT COUNT(*) FROM JidoukaTool jt JOIN Tool t ON t.ToolId = jt.ToolId "
            "WHERE t.ToolName = 'UiPath'"},
    {"question": "How many authors work in DC3?",
     "sql": "SELECT COUNT(*) FROM Author a JOIN Department d ON d.DepartmentId = a.DepartmentId "
            "WHERE d.DepartmentName = 'DC3'"},
    {"question": "Có bao nhiêu cải tiến tiết kiệm hơn 100 giờ?",
     "sql": "SELECT COUNT(*) FROM Jidouka WHERE TotalTimeSaved > 100"},
    {"question": "Phòng ban DC1 có bao nhiêu tác giả?",
     "sql": "SELECT COUNT(*) FROM Author a JOIN Department d ON d.DepartmentId = a.DepartmentId "
            "WHERE d.DepartmentName = 'DC1'"},
    {"question": "Tổng thời gian tiết kiệm của tất cả các cải tiến là bao nhiêu?",
     "sql": "SELECT SUM(TotalTimeSaved) FROM Jidouka"},
    {"thread": "followup", "question": "How many improvements were made in 2023?",
     "sql": "SELECT COUNT(*) FROM Jidouka WHERE strftime('%Y', DateCreate) = '2023'"},
    {"thread": "followup", "question": "And how many of those were made by DC4?",
     "sql": "SELECT COUNT(*) FROM Jidouka j JOIN Department d ON d.DepartmentId = j.DepartmentId "
            "WHERE strftime('%Y', j.DateCreate) = '2023' AND d.DepartmentName = 'DC4'"},
    {"thread": "followup", "question": "What is the total time they saved?",
     "sql": "SELECT SUM(j.TotalTimeSaved) FROM Jidouka j JOIN Department d "
            "ON d.DepartmentId = j.DepartmentId "
            "WHERE strftime('%Y', j.DateCreate) = '2023' AND d.DepartmentName = 'DC4'"},
]
