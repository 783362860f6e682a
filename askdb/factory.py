"""Wiring: concrete databases, model and pipeline from the settings object."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from nlsql import Answerer, Text2Sql, Text2SqlModel, open_readonly
from nlsql.db.sampledb import create_sample_database
from nlsql.errors import ConfigError, ModelUnavailable
from nlsql.examples import ExampleStore, database_key
from nlsql.models.files import (
    bundled,
    converted_dir,
    gguf_path,
    resolve_model_path,
    served_gguf,
    served_gguf_path,
)
from nlsql.models.llamacpp import LlamaCppModel, llamacpp_available
from nlsql.models.openai_compat import OpenAIModel
from training.registry import AdapterRegistry, AdapterVersion

from .settings import Settings

log = logging.getLogger(__name__)


def ensure_sample_database(settings: Settings) -> None:
    """Create the sample database when it is the configured one and is missing."""
    if not settings.database_url and not settings.sample_database_path.exists():
        log.info("creating the sample database at %s", settings.sample_database_path)
        create_sample_database(settings.sample_database_path)


def open_database(settings: Settings, url: str | None = None):
    if url is None:
        ensure_sample_database(settings)
    return open_readonly(url or settings.effective_database_url, settings.query_timeout_s)


def choose_backend(settings: Settings) -> str:
    """'auto' means llama.cpp on a CPU for bundled models, torch everywhere else."""
    if settings.backend != "auto":
        return settings.backend
    model = bundled(settings.model)
    if model is None or not llamacpp_available():
        return "torch"
    if not gguf_path(settings.cache_path, model).exists():
        return "torch"
    import torch

    return "torch" if torch.cuda.is_available() else "llamacpp"


def locations(settings: Settings) -> dict[str, str]:
    """Where this configuration finds its model and keeps its state: logged by `askdb
    serve` at start and shown by `askdb doctor`, so two homes are seen at once."""
    if settings.inference == "openai":
        model = f"{settings.openai_model or settings.model} at {settings.openai_url}"
    else:
        bundle = bundled(settings.model)
        if bundle is None:  # a local folder or a hub id, as configured
            model = settings.model
        else:
            path = served_gguf_path(settings.cache_path, bundle, settings.llamacpp_weights) \
                if choose_backend(settings) == "llamacpp" else \
                converted_dir(settings.cache_path, bundle)
            model = str(path) + ("" if path.exists() else " (not prepared)")
    return {
        "home": str(settings.cache_path),
        "model": model,
        "store": sa.engine.make_url(settings.effective_state_url).render_as_string(
            hide_password=True),
        "database": sa.engine.make_url(settings.effective_database_url).render_as_string(
            hide_password=True),
        "adapters": str(settings.adapters_path),
    }


def load_model(settings: Settings, adapter: bool | str = True) -> Text2SqlModel | LlamaCppModel:
    """The configured model on the configured backend, with the promoted adapter.

    ``adapter`` may also name a registry version or an adapter file/folder (``askdb eval
    --adapter``), so a candidate is measured before it is promoted, or ``"none"`` for the
    base model whatever is promoted.
    """
    if settings.inference == "openai":
        loaded = OpenAIModel(settings.openai_url, settings.openai_model or settings.model,
                             settings.openai_api_key)
        return _with_adapter(loaded, settings, adapter, Path(settings.model).name)
    folder = resolve_model_path(settings.model, Path(settings.cache_path))
    if choose_backend(settings) == "torch":
        loaded = Text2SqlModel.load(
            folder, static_cache_len=settings.context_tokens if settings.cuda_graphs else 0)
    else:
        model = bundled(settings.model)
        if model is None:
            raise ConfigError("ASKDB_BACKEND=llamacpp serves the bundled models only; use "
                              "ASKDB_BACKEND=torch for a Hugging Face folder.")
        gguf = served_gguf(settings.cache_path, model, settings.llamacpp_weights)
        loaded = LlamaCppModel.load(gguf, folder,
                                    n_ctx=settings.context_tokens, slots=settings.batch_slots)
    return _with_adapter(loaded, settings, adapter, Path(folder).name)


def _with_adapter(loaded, settings: Settings, adapter: bool | str, base_name: str):
    loaded.adapter_version = None
    if isinstance(adapter, str):
        _apply_named_adapter(loaded, settings, adapter)
        return loaded
    current = adapter_registry(settings).current() if adapter else None
    if current is not None and Path(current.meta.get("base", "")).name != base_name:
        log.warning("adapter %s was trained on %s, not %s: serving the base model",
                    current.name, current.meta.get("base"), base_name)
    elif current is not None:
        try:
            loaded.set_adapter(adapter_file_for(loaded)(current))
        except ModelUnavailable as err:  # a bad adapter must not take the bot down
            log.error("not serving adapter %s: %s", current.name, err.user_message)
        else:
            loaded.adapter_version = current.name
            log.info("serving adapter %s", current.name)
    return loaded


def _apply_named_adapter(loaded, settings: Settings, name: str) -> None:
    """Load exactly the adapter asked for; unlike serving, a bad one is an error here."""
    if name.lower() == "none":
        return
    versions = {version.name: version for version in adapter_registry(settings).versions()}
    if name in versions:
        loaded.set_adapter(adapter_file_for(loaded)(versions[name]))
    elif Path(name).exists():
        loaded.set_adapter(str(Path(name)))
    else:
        raise ConfigError(f"No adapter {name!r}: give a version from `askdb adapters list`, "
                          "an adapter file or folder, or 'none'.")
    loaded.adapter_version = name


def adapter_registry(settings: Settings) -> AdapterRegistry:
    return AdapterRegistry(settings.adapters_path)


def adapter_file_for(model) -> Callable[[AdapterVersion | None], str | None]:
    """What each backend loads for a version: the GGUF LoRA or the peft folder."""
    def llama_file(version: AdapterVersion | None) -> str | None:
        if version is None:
            return None
        if version.gguf is None:
            raise ModelUnavailable(f"Adapter {version.name} has no llama.cpp export "
                                   "(adapter.gguf); run `askdb adapters export`.")
        return str(version.gguf)

    if isinstance(model, LlamaCppModel):
        return llama_file
    return lambda version: str(version.path) if version is not None else None


def example_source(settings: Settings, database_url: str, store: ExampleStore | None = None):
    """question -> the most similar stored examples of that database (live, no restart)."""
    if settings.examples_k <= 0:
        return None
    store = store or ExampleStore(settings.effective_state_url)
    key = database_key(database_url)
    return lambda question: store.similar(key, question, settings.examples_k)


def build_text2sql(
    settings: Settings, database_url: str | None = None, model: Text2SqlModel | None = None,
    examples: ExampleStore | None = None,
) -> Text2Sql:
    database = open_database(settings, database_url)
    model = model or load_model(settings)
    url = database_url or settings.effective_database_url
    return Text2Sql(
        database,
        model,
        Answerer(model, use_model=settings.answerer == "model"),
        max_rows=settings.max_rows,
        max_new_tokens=settings.max_new_tokens,
        retries=settings.retries,
        max_question_chars=settings.max_question_chars,
        link_values=settings.value_linking,
        example_source=example_source(settings, url, examples),
        schema_budget_chars=settings.schema_budget,
        extra_functions=settings.extra_functions,
    )
