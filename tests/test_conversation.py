"""The table-first turn: the early table reaches the platform, failures lose nothing."""

from __future__ import annotations

from bot.conversation import Conversation
from bot.messages import IncomingMessage
from tests.fixed_asker import TABLE, Asker


async def test_the_table_is_shown_before_the_sentence(store):
    shown = []

    async def on_table(reply):
        shown.append(reply)
        # stored before it is shown: a follow-up sent now has this turn in its history
        assert [h.sql for h in store.history("web:t1")] == ["SELECT 1"]

    asker = Asker()
    reply = await Conversation(asker, store).handle(
        IncomingMessage("web", "web:t1", "time saved by department?"), on_table=on_table)
    assert [r.text for r in shown] == ["Found 2 rows. …"]
    assert shown[0].table is TABLE and shown[0].actions and shown[0].turn_id == reply.turn_id
    assert reply.text == "DC2 saved the most." and reply.actions and reply.turn_id
    assert store.turns("web:t1")[0]["answer"] == "DC2 saved the most."
    assert len(store.turns("web:t1")) == 1


async def test_without_on_table_the_answer_comes_phrased_in_one_go(store):
    asker = Asker()
    reply = await Conversation(asker, store).handle(
        IncomingMessage("web", "web:t2", "time saved by department?"))
    assert reply.text == "DC2 saved the most." and asker.asked_to_phrase == 0


async def test_a_failing_sentence_or_platform_keeps_the_table_answer(store):
    async def broken_platform(reply):
        raise ConnectionError("Slack is down")

    reply = await Conversation(Asker(RuntimeError("model crashed")), store).handle(
        IncomingMessage("web", "web:t3", "time saved by department?"),
        on_table=broken_platform)
    assert reply.error is None and reply.table is TABLE and reply.text == "Found 2 rows."
    assert reply.actions and store.turns("web:t3")[0]["answer"] == "Found 2 rows."


class _Recording:
    """A model that writes one fixed query and keeps every prompt it is given."""

    name, adapter_version = "recording", None

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.prompts: list[list[dict]] = []

    def generate(self, messages, max_new_tokens=256, stop_when=None):
        from nlsql.models import Generation

        self.prompts.append(list(messages))
        return Generation(text=self.sql, prompt_tokens=10, new_tokens=5, prefill_s=0.0,
                          decode_s=0.0)


async def test_a_follow_up_sees_the_query_as_the_model_wrote_it(store, sample_database):
    """The guard's row cap is shown to the asker but is not the model's: a model shown
    its own queries with ``LIMIT 1000`` appended copies the cap into new ones."""
    from nlsql import Answerer, Text2Sql

    model = _Recording("SELECT DepartmentName FROM Department;")
    engine = Text2Sql(sample_database, model, Answerer(model, use_model=False), retries=0)
    conversation = Conversation(engine, store)
    first = await conversation.handle(IncomingMessage("web", "web:f", "list departments"))
    assert first.sql.endswith("LIMIT 1000")  # as it ran
    await conversation.handle(IncomingMessage("web", "web:f", "and sorted?"))
    earlier = next(m["content"] for m in model.prompts[1] if m["role"] == "assistant")
    assert "SELECT DepartmentName FROM Department" in earlier and "LIMIT" not in earlier
