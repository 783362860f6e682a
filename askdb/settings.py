"""The one settings object: every knob, read from ``ASKDB_*`` environment variables.

Platform credentials keep their platforms' own names (``SLACK_BOT_TOKEN`` ...) so the
values people already have in their secret stores work unchanged.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from nlsql.errors import ConfigError
from nlsql.models.files import LLAMACPP_WEIGHTS

from .home import default_home


def _flag(raw: str) -> bool:
    """An on/off setting: "0" must mean off, which bool("0") does not."""
    low = raw.strip().lower()
    if low in {"1", "true", "yes", "on"}:
        return True
    if low in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


def _default_cache() -> str:
    return str(default_home())


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default="", metadata={
        "env": "ASKDB_DATABASE_URL",
        "help": "SQLAlchemy URL of the database to answer about; empty = the sample database"})
    state_url: str = field(default="", metadata={
        "env": "ASKDB_STATE_URL",
        "help": "SQLAlchemy URL of askdb's own state (threads, corrections); empty = SQLite "
                "file in the home (ASKDB_CACHE_DIR)"})
    model: str = field(default="qwen2.5-coder-1.5b-instruct", metadata={
        "env": "ASKDB_MODEL",
        "help": "bundled model name (qwen2.5-coder-1.5b-instruct, qwen2.5-coder-0.5b-instruct),"
                " a local Hugging Face model folder, or a hub id"})
    backend: str = field(default="auto", metadata={
        "env": "ASKDB_BACKEND",
        "help": "'llamacpp' runs the bundled quantised GGUF with llama.cpp (fast on CPUs), "
                "'torch' the transformers model (the reference; GPUs), 'auto' picks "
                "llamacpp on a CPU when it is installed and the model is bundled"})
    llamacpp_weights: str = field(default="q4_k_m", metadata={
        "env": "ASKDB_LLAMACPP_WEIGHTS",
        "help": "weights llama.cpp serves: 'q4_k_m' as shipped (fastest), or 'q8_0' written "
                "once from them (closer to the fp32 reference, slower decoding)"})
    inference: str = field(default="inprocess", metadata={
        "env": "ASKDB_INFERENCE",
        "help": "'inprocess' runs the model in askdb; 'openai' sends generation to an "
                "OpenAI-compatible server (vLLM) at ASKDB_OPENAI_URL"})
    openai_url: str = field(default="", metadata={
        "env": "ASKDB_OPENAI_URL", "help": "base URL of the OpenAI-compatible server, e.g. "
                                           "http://vllm:8000/v1"})
    openai_model: str = field(default="", metadata={
        "env": "ASKDB_OPENAI_MODEL", "help": "model name the server serves; empty = ASKDB_MODEL"})
    openai_api_key: str = field(default="", metadata={
        "env": "ASKDB_OPENAI_API_KEY", "help": "API key for that server, if it wants one"})
    batch_slots: int = field(default=8, metadata={
        "env": "ASKDB_BATCH_SLOTS",
        "help": "llama.cpp: questions decoded together when several arrive at once "
                "(1 = one at a time, each waiting for the one before)"})
    context_tokens: int = field(default=8192, metadata={
        "env": "ASKDB_CONTEXT_TOKENS",
        "help": "llama.cpp context size: longest prompt plus answer, in tokens"})
    value_linking: bool = field(default=True, metadata={
        "env": "ASKDB_VALUE_LINKING",
        "help": "tell the model which column holds each database value a question names "
                "(indexes the distinct values of text columns once an hour)"})
    cuda_graphs: bool = field(default=True, metadata={
        "env": "ASKDB_CUDA_GRAPHS",
        "help": "torch on a GPU: decode with a static KV cache compiled into CUDA graphs "
                "(the first question compiles for about a minute; off = plain generate)"})
    cache_dir: str = field(default_factory=_default_cache, metadata={
        "env": "ASKDB_CACHE_DIR",
        "help": "askdb's home, the same for make, serve and every command: prepared models, "
                "the sample database, the state store (threads, corrections) and adapters; "
                "default ~/.cache/askdb ($XDG_CACHE_HOME/askdb)"})
    host: str = field(default="127.0.0.1", metadata={
        "env": "ASKDB_HOST", "help": "address `askdb serve` listens on"})
    port: int = field(default=3978, metadata={
        "env": "ASKDB_PORT", "help": "port `askdb serve` listens on"})
    max_rows: int = field(default=1000, metadata={
        "env": "ASKDB_MAX_ROWS", "help": "row cap the guard puts on every query"})
    allowed_functions: str = field(default="", metadata={
        "env": "ASKDB_ALLOWED_FUNCTIONS",
        "help": "comma-separated extra SQL functions the guard lets queries call (your "
                "database's own read-only functions)"})
    query_timeout_s: float = field(default=30.0, metadata={
        "env": "ASKDB_QUERY_TIMEOUT", "help": "seconds a query may run before it is stopped"})
    max_question_chars: int = field(default=2000, metadata={
        "env": "ASKDB_MAX_QUESTION_CHARS", "help": "longest question accepted"})
    max_new_tokens: int = field(default=256, metadata={
        "env": "ASKDB_MAX_NEW_TOKENS", "help": "most tokens the model may write for one query"})
    retries: int = field(default=1, metadata={
        "env": "ASKDB_RETRIES",
        "help": "times the model may repair a query the database refused"})
    answerer: str = field(default="model", metadata={
        "env": "ASKDB_ANSWERER",
        "help": "'model' phrases results with the language model, 'template' with fixed "
                "sentences (faster)"})
    examples_k: int = field(default=3, metadata={
        "env": "ASKDB_EXAMPLES",
        "help": "stored examples (verified answers, corrections) shown per question; 0 = none"})
    schema_budget: int = field(default=12_000, metadata={
        "env": "ASKDB_SCHEMA_BUDGET",
        "help": "characters of schema text in a prompt (~4 per token); bigger schemas are "
                "cut to the tables a question needs"})
    history_turns: int = field(default=3, metadata={
        "env": "ASKDB_HISTORY_TURNS", "help": "earlier turns of a thread put in the prompt"})
    slack_bot_token: str = field(default="", metadata={
        "env": "SLACK_BOT_TOKEN", "help": "Slack bot token (xoxb-...); enables /slack/events"})
    slack_signing_secret: str = field(default="", metadata={
        "env": "SLACK_SIGNING_SECRET", "help": "Slack signing secret: verifies every request"})
    slack_app_token: str = field(default="", metadata={
        "env": "SLACK_APP_TOKEN",
        "help": "Slack app-level token (xapp-...): use Socket Mode instead of a public URL"})
    slack_api_url: str = field(default="https://slack.com/api/", metadata={
        "env": "SLACK_API_URL", "help": "Slack Web API base URL (proxies and tests change it)"})
    slack_allowed_channels: str = field(default="", metadata={
        "env": "ASKDB_SLACK_ALLOWED_CHANNELS",
        "help": "comma-separated Slack channel ids that may ask; empty = all"})
    slack_allowed_users: str = field(default="", metadata={
        "env": "ASKDB_SLACK_ALLOWED_USERS",
        "help": "comma-separated Slack user ids that may ask; empty = all"})
    teams_app_id: str = field(default="", metadata={
        "env": "TEAMS_APP_ID",
        "help": "Bot Framework app id; enables /api/messages with token validation"})
    teams_app_password: str = field(default="", metadata={
        "env": "TEAMS_APP_PASSWORD", "help": "Bot Framework app password (client secret)"})
    teams_app_tenant_id: str = field(default="", metadata={
        "env": "TEAMS_APP_TENANT_ID", "help": "tenant id (SingleTenant / UserAssignedMSI)"})
    teams_app_type: str = field(default="MultiTenant", metadata={
        "env": "TEAMS_APP_TYPE", "help": "MultiTenant, SingleTenant or UserAssignedMSI"})
    teams_insecure_local: int = field(default=0, metadata={
        "env": "ASKDB_TEAMS_INSECURE_LOCAL",
        "help": "1 = accept unauthenticated Teams activities (local testing, no app id only)"})
    adapters_dir: str = field(default="", metadata={
        "env": "ASKDB_ADAPTERS_DIR",
        "help": "adapter registry folder (trained LoRA versions); empty = <cache>/adapters"})
    adapter_poll_s: float = field(default=10.0, metadata={
        "env": "ASKDB_ADAPTER_POLL",
        "help": "seconds between checks for a newly promoted adapter (swapped in live)"})
    train_cron: str = field(default="", metadata={
        "env": "ASKDB_TRAIN_CRON",
        "help": "cron expression for scheduled retraining inside `askdb serve`, e.g. "
                "'0 2 * * *' (nightly); empty = no schedule"})
    train_config: str = field(default="", metadata={
        "env": "ASKDB_TRAIN_CONFIG",
        "help": "YAML/JSON file of training settings (see `askdb train --help`)"})
    regression_set: str = field(default="", metadata={
        "env": "ASKDB_REGRESSION_SET",
        "help": "JSONL of {db, question, sql} a new adapter must not get worse on"})
    log_level: str = field(default="INFO", metadata={
        "env": "ASKDB_LOG_LEVEL", "help": "logging level"})
    log_format: str = field(default="text", metadata={
        "env": "ASKDB_LOG_FORMAT", "help": "'text' lines, or 'json' (one object per line) "
                                           "for log collectors"})

    def __post_init__(self) -> None:
        if self.answerer not in {"model", "template"}:
            raise ConfigError("ASKDB_ANSWERER must be 'model' or 'template'.")
        if not 1 <= self.batch_slots <= 64:
            raise ConfigError("ASKDB_BATCH_SLOTS must be between 1 and 64.")
        if self.inference not in {"inprocess", "openai"}:
            raise ConfigError("ASKDB_INFERENCE must be 'inprocess' or 'openai'.")
        if self.inference == "openai" and not self.openai_url:
            raise ConfigError("ASKDB_INFERENCE=openai needs ASKDB_OPENAI_URL (e.g. "
                              "http://vllm:8000/v1).")
        if self.log_format not in {"text", "json"}:
            raise ConfigError("ASKDB_LOG_FORMAT must be 'text' or 'json'.")
        if self.llamacpp_weights not in LLAMACPP_WEIGHTS:
            raise ConfigError(f"ASKDB_LLAMACPP_WEIGHTS must be one of "
                              f"{', '.join(LLAMACPP_WEIGHTS)}.")
        if self.backend not in {"auto", "torch", "llamacpp"}:
            raise ConfigError("ASKDB_BACKEND must be 'auto', 'torch' or 'llamacpp'.")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"ASKDB_PORT {self.port} is not a port number.")
        if bool(self.slack_bot_token) != bool(self.slack_signing_secret) and \
                not self.slack_app_token:
            raise ConfigError("Slack needs both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET.")
        if self.teams_app_type not in {"MultiTenant", "SingleTenant", "UserAssignedMSI"}:
            raise ConfigError("TEAMS_APP_TYPE must be MultiTenant, SingleTenant or "
                              "UserAssignedMSI.")
        if self.teams_insecure_local and self.teams_app_id:
            raise ConfigError("ASKDB_TEAMS_INSECURE_LOCAL=1 is only allowed without "
                              "TEAMS_APP_ID.")
        if self.train_cron:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(self.train_cron)
            except ValueError as err:
                raise ConfigError(f"ASKDB_TRAIN_CRON {self.train_cron!r} is not a cron "
                                  f"expression: {err}") from err
        if self.max_rows < 1 or self.query_timeout_s <= 0:
            raise ConfigError("ASKDB_MAX_ROWS and ASKDB_QUERY_TIMEOUT must be positive.")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> Settings:
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            kind = f.type if isinstance(f.type, type) else {
                "int": int, "float": float, "bool": _flag}.get(str(f.type), str)
            try:
                values[f.name] = kind(raw)
            except ValueError as err:
                wanted = "on/off value (1/0, true/false)" if kind is _flag else kind.__name__
                raise ConfigError(f"{f.metadata['env']}={raw!r} is not a valid {wanted}.") \
                    from err
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def extra_functions(self) -> tuple[str, ...]:
        return tuple(f for f in re.split(r"[,\s]+", self.allowed_functions.lower()) if f)

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir).expanduser()

    @property
    def adapters_path(self) -> Path:
        return Path(self.adapters_dir).expanduser() if self.adapters_dir else \
            self.cache_path / "adapters"

    @property
    def sample_database_path(self) -> Path:
        return self.cache_path / "jidouka.sqlite"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sample_database_path}"

    @property
    def effective_state_url(self) -> str:
        return self.state_url or f"sqlite:///{self.cache_path / 'askdb-state.sqlite'}"

    @classmethod
    def help_table(cls) -> list[tuple[str, str, str]]:
        defaults = cls()
        return [(f.metadata["env"], str(getattr(defaults, f.name)), f.metadata["help"])
                for f in fields(cls)]
