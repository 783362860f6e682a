"""``askdb doctor``: check what a deployment needs before the first question arrives.

Operators meet configuration mistakes one by one otherwise: a database that refuses the
login, a connection that can write, a model part that was never installed, a Slack token
that was revoked. Each check says what it found and, when it fails, what to change.
A check that cannot fail the bot (the database login may write; the guard still blocks
writes) is a warning, not a failure.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import sqlalchemy as sa

from nlsql import AskdbError

from .settings import Settings

OK, WARN, FAIL = "ok", "warn", "fail"
# where a CREATE TABLE inside a transaction is undone by ROLLBACK (MySQL, Oracle and
# Snowflake commit DDL implicitly: the doctor must never leave a table behind there)
TRANSACTIONAL_DDL = {"sqlite", "postgres", "tsql"}
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _message(err: Exception) -> str:
    return getattr(err, "user_message", None) or str(err).splitlines()[0]


def check_database(settings: Settings) -> list[Check]:
    from .factory import open_database

    try:
        database = open_database(settings)
        schema = database.schema()
    except AskdbError as err:
        return [Check("database", FAIL, _message(err),
                      "Check ASKDB_DATABASE_URL (host, port, login, driver) and that this "
                      "machine can reach the server.")]
    checks = [Check("database", OK, f"{database.dialect}: {len(schema.tables)} tables")]
    if not schema.tables:
        checks[0] = Check("database", WARN, f"{database.dialect}: no tables visible",
                          "Grant the login SELECT on the tables people will ask about.")
    if database.dialect not in TRANSACTIONAL_DDL:
        checks.append(Check("database read-only", WARN, f"not probed: {database.dialect} "
                            "commits DDL implicitly, so a write probe could not be undone",
                            "Make sure the login has SELECT rights only."))
    elif hasattr(database, "engine"):
        engine = database.engine
        checks.append(_probe_read_only(engine.raw_connection, engine.dialect.loaded_dbapi.Error,
                                       begin=engine.dialect.name == "sqlite"))
    else:  # plain ODBC
        checks.append(_probe_read_only(database.connect, database.pyodbc.Error))
    database.dispose()
    return checks


def _probe_read_only(connect: Callable[[], object], error: type[Exception],
                     begin: bool = False) -> Check:
    """Try a write the connection should refuse, always inside a rolled-back transaction.

    Raw DB-API, because Python's sqlite3 commits DDL on its own unless a transaction was
    opened explicitly (``begin``): the probe must never leave a table behind.
    """
    probe = f"askdb_doctor_{uuid.uuid4().hex[:8]}"
    raw = connect()
    try:
        cursor = raw.cursor()
        if begin:
            cursor.execute("BEGIN")
        cursor.execute(f"CREATE TABLE {probe} (x INTEGER)")
    except error as err:
        return Check("database read-only", OK, "the connection refuses writes ("
                     f"{str(err).splitlines()[0][:80]})")
    finally:
        raw.rollback()
        raw.close()
    return Check("database read-only", WARN, "the connection could create a table (rolled "
                 "back); only the SQL guard stands between the model and a write",
                 "Use a login with SELECT rights only, or a read-only replica.")


def check_state(settings: Settings) -> Check:
    from bot.store import ConversationStore

    try:
        store = ConversationStore(settings.effective_state_url)
        store.dispose()
    except sa.exc.SQLAlchemyError as err:
        return Check("state database", FAIL, str(err).splitlines()[0][:200],
                     "Check ASKDB_STATE_URL: askdb needs to create and write its tables there.")
    from .home import stray_stores, stray_warning

    shown = sa.engine.make_url(settings.effective_state_url).render_as_string(hide_password=True)
    strays = stray_stores(settings.effective_state_url, settings.cache_path)
    if strays:
        return Check("state database", WARN, stray_warning(strays, shown, settings.cache_path),
                     "Use one store: move the other one into the home, or set "
                     "ASKDB_STATE_URL to it.")
    return Check("state database", OK, shown)


def check_home(settings: Settings) -> list[Check]:
    """Where the model and state are: the same for `make run`, `askdb serve` and the CLI."""
    from .factory import locations

    where = locations(settings)
    return [Check("home", OK, where["home"]), Check("model path", OK, where["model"])]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def check_model(settings: Settings) -> list[Check]:
    from nlsql.models.files import bundled, converted_dir, gguf_path, is_prepared, part_paths
    from nlsql.models.llamacpp import llamacpp_available

    from .factory import choose_backend

    if settings.inference == "openai":
        return [_check_server(settings)]
    prepare = "Run `askdb model prepare` (or `make setup`)."
    model = bundled(settings.model)
    if model is None:
        folder = Path(settings.model).expanduser()
        if (folder / "config.json").exists():
            return [Check("model", OK, f"local folder {folder}")]
        return [Check("model", FAIL, f"{settings.model} is neither a bundled model nor a "
                      "model folder with config.json", "Set ASKDB_MODEL to "
                      "qwen2.5-coder-1.5b-instruct or to a Hugging Face model folder.")]
    checks = []
    try:
        part_paths(model)
        checks.append(Check("model parts", OK, f"{model.parts} parts of {model.name} installed"))
    except AskdbError as err:
        checks.append(Check("model parts", FAIL, _message(err), "Run `make setup`."))
    gguf = gguf_path(settings.cache_path, model)
    if not gguf.exists():
        checks.append(Check("model weights", FAIL, f"{gguf} is missing", prepare))
    elif _sha256(gguf) != model.sha256:
        checks.append(Check("model weights", FAIL, f"{gguf.name} does not match its SHA-256",
                            f"Delete {gguf} and run `askdb model prepare` again."))
    else:
        checks.append(Check("model weights", OK, f"{gguf.name} SHA-256 verified"))
    if not is_prepared(converted_dir(settings.cache_path, model)):
        checks.append(Check("model folder", FAIL, "not converted yet", prepare))
    backend = choose_backend(settings)
    if backend == "llamacpp" and not llamacpp_available():
        checks.append(Check("backend", FAIL, "llama.cpp is configured but not installed",
                            "Run `make setup`, or set ASKDB_BACKEND=torch."))
    else:
        checks.append(Check("backend", OK, backend))
    return checks


def _check_server(settings: Settings) -> Check:
    from nlsql.models.openai_compat import OpenAIModel

    name = settings.openai_model or settings.model
    try:
        served = OpenAIModel(settings.openai_url, name, settings.openai_api_key,
                             timeout_s=10).served_models()
    except AskdbError as err:
        return Check("inference server", FAIL, _message(err),
                     "Check ASKDB_OPENAI_URL and that the vLLM server is up.")
    if name not in served:
        return Check("inference server", FAIL, f"{name!r} is not served (it serves "
                     f"{', '.join(served) or 'nothing'})", "Set ASKDB_OPENAI_MODEL to the "
                     "name the server was started with (vllm serve ... --served-model-name).")
    return Check("inference server", OK, f"{name} at {settings.openai_url}")


def check_adapter(settings: Settings) -> Check:
    from .factory import adapter_registry, choose_backend

    current = adapter_registry(settings).current()
    if current is None:
        return Check("adapter", OK, "base model (no adapter promoted)")
    if choose_backend(settings) == "llamacpp" and current.gguf is None:
        return Check("adapter", FAIL, f"{current.name} has no llama.cpp export, so the base "
                     "model serves", f"Run `askdb adapters export {current.name}`.")
    return Check("adapter", OK, f"{current.name} promoted")


def check_slack(settings: Settings) -> list[Check]:
    if not settings.slack_bot_token:
        return [Check("slack", OK, "not configured (SLACK_BOT_TOKEN unset)")]
    if not settings.slack_bot_token.startswith("xoxb-"):
        return [Check("slack", FAIL, "SLACK_BOT_TOKEN is not a bot token (xoxb-...)",
                      "Copy the Bot User OAuth Token from the app's OAuth & Permissions page.")]
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url,
                       timeout=10)
    try:
        identity = client.auth_test()
    except SlackApiError as err:
        return [Check("slack", FAIL, f"Slack refused the token: {err.response.get('error')}",
                      "Reinstall the app to the workspace and copy the new bot token.")]
    except Exception as err:  # DNS, TLS, proxy: the server cannot reach Slack
        return [Check("slack", FAIL, f"cannot reach {settings.slack_api_url}: {err}",
                      "Allow outbound HTTPS to slack.com (or set SLACK_APP_TOKEN for Socket "
                      "Mode behind a proxy).")]
    return [Check("slack", OK, f"bot {identity.get('user')} in {identity.get('team')}")]


def check_teams(settings: Settings) -> list[Check]:
    if not settings.teams_app_id:
        detail = "not configured" + (" (insecure local mode on)"
                                     if settings.teams_insecure_local else "")
        return [Check("teams", WARN if settings.teams_insecure_local else OK, detail)]
    problems = []
    if not GUID.match(settings.teams_app_id):
        problems.append("MicrosoftAppId is not a GUID")
    if settings.teams_app_type != "UserAssignedMSI" and not settings.teams_app_password:
        problems.append("MicrosoftAppPassword is empty")
    if settings.teams_app_type == "SingleTenant" and not settings.teams_app_tenant_id:
        problems.append("a SingleTenant app needs MicrosoftAppTenantId")
    if problems:
        return [Check("teams", FAIL, "; ".join(problems),
                      "Copy the values from the Azure Bot resource's Configuration page.")]
    return [Check("teams", OK, f"app {settings.teams_app_id} ({settings.teams_app_type}); "
                  "the password is checked by Microsoft on the first message")]


CHECKS: list[Callable[[Settings], Check | list[Check]]] = [
    check_home, check_database, check_state, check_model, check_adapter, check_slack, check_teams,
]


def run_checks(settings: Settings) -> list[Check]:
    out: list[Check] = []
    for check in CHECKS:
        try:
            found = check(settings)
        except Exception as err:  # a doctor that crashes helps nobody: report and go on
            found = Check(check.__name__.removeprefix("check_"), FAIL,
                          f"the check itself failed: {type(err).__name__}: {err}")
        out.extend(found if isinstance(found, list) else [found])
    return out
