"""Big schemas: the prompt keeps the tables a question needs and stays under budget."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa

from nlsql.schema import reflect_schema, schema_text
from nlsql.selection import select_tables

BUDGET = 6000

CORE = """
CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, customer_name TEXT, city TEXT);
CREATE TABLE product_categories (category_id INTEGER PRIMARY KEY, category_name TEXT);
CREATE TABLE products (product_id INTEGER PRIMARY KEY, product_name TEXT,
  category_id INTEGER REFERENCES product_categories(category_id), unit_price REAL);
CREATE TABLE orders (order_id INTEGER PRIMARY KEY,
  customer_id INTEGER REFERENCES customers(customer_id), order_date TEXT);
CREATE TABLE order_items (order_id INTEGER REFERENCES orders(order_id),
  product_id INTEGER REFERENCES products(product_id), quantity INTEGER);
CREATE TABLE employees (employee_id INTEGER PRIMARY KEY, employee_name TEXT, hire_date TEXT);
"""
NOUNS = ["ledger", "audit", "shipment", "warehouse", "invoice", "payroll", "asset", "ticket",
         "campaign", "vendor", "contract", "budget", "sensor", "machine", "shift", "training"]


@pytest.fixture(scope="module")
def big_schema(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    rng = random.Random(3)
    with engine.begin() as conn:
        for statement in CORE.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
        conn.exec_driver_sql("INSERT INTO product_categories VALUES (1, 'Beverages')")
        for i in range(294):
            noun = NOUNS[i % len(NOUNS)]
            cols = ", ".join(f"{noun}_attr_{j} TEXT" for j in range(rng.randint(3, 9)))
            conn.exec_driver_sql(f"CREATE TABLE {noun}_{i} (id INTEGER PRIMARY KEY, {cols})")
    schema = reflect_schema(engine)
    assert len(schema.tables) == 300
    return schema


@pytest.mark.parametrize("question, needed", [
    ("What is the total quantity sold per product category?",
     {"order_items", "products", "product_categories"}),
    ("Which customers placed orders in 2024?", {"customers", "orders"}),
    ("How many employees were hired last year?", {"employees"}),
    ("How many Beverages products are there?", {"products", "product_categories"}),
])
def test_relevant_tables_kept_under_budget(big_schema, question, needed):
    assert len(schema_text(big_schema)) > 9 * BUDGET
    chosen = select_tables(big_schema, question, lambda s: len(schema_text(s)) <= BUDGET)
    names = {t.name for t in chosen.tables}
    assert needed <= names, names
    assert len(schema_text(chosen)) <= BUDGET


def test_small_schema_is_untouched(sample_url):
    schema = reflect_schema(sa.create_engine(sample_url))
    assert select_tables(schema, "anything", lambda s: True) is schema
