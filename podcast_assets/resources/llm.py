"""One client for every LLM task: a JSON reply validated by a pydantic schema, cached on disk, retried
within our own deadline, priced, and never leaking the API key.

The SDKs run with max_retries=0: the anthropic SDK would sleep for any Retry-After (an hour, if asked),
and a 200 with an HTML or truncated body is not retried by either. We retry 429, 5xx, timeouts and
dropped connections ourselves, bounded by `max_attempts` and the wall-clock `deadline_s`.
A valid reply is cached the moment it arrives, so a run killed afterwards never pays for it twice.
"""

from __future__ import annotations

import importlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, TypeVar

import dagster as dg
from pydantic import BaseModel, Field, ValidationError

from podcast_assets.core.config import LLMSettings
from podcast_assets.core.errors import StorageError
from podcast_assets.core.llm import (
    BudgetExceededError,
    CallRecord,
    LLMConfigError,
    LLMError,
    LLMResponseError,
    LLMRetryableError,
    backoff_delay,
    cost_of,
    validate_reply,
)
from podcast_assets.core.storage import atomic_write_bytes, cache_key
from podcast_assets.resources.storage import ArtifactStoreResource

M = TypeVar("M", bound=BaseModel)

DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
NO_KEY_NEEDED = "no-key-needed"  # what an openai_compatible server without auth receives: not a secret
CACHE_FORMAT = "llm-json-reply-v1"
SHARED_CACHE_PREFIX = "cache/llm"
REASK = (
    "Your previous reply was not usable: {problem}. Reply again with only the corrected JSON object that "
    "matches the JSON schema in the system prompt."
)
BAD_BODY = "the API answered 200 with a body that is not a chat reply (an HTML page or truncated JSON)"


@dataclass(frozen=True)
class _Reply:
    """A 200 response. `problem` says why it holds no usable text (then `text` is empty)."""

    text: str
    raw: str
    input_tokens: int | None
    output_tokens: int | None
    cut_off: bool = False
    problem: str | None = None


@dataclass(frozen=True)
class _Failure:
    """A failed request, reduced to safe text: never the SDK exception, its request or its headers."""

    retryable: bool
    text: str
    status: int | None = None
    retry_after: float | None = None


@dataclass
class _Spend:
    attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    usage_known: bool = True

    def add(self, reply: _Reply) -> None:
        if reply.input_tokens is None or reply.output_tokens is None:
            self.usage_known = False
        else:
            self.input_tokens += reply.input_tokens
            self.output_tokens += reply.output_tokens


class LLMResource(dg.ConfigurableResource):
    """A chat model behind an API (OpenAI, Anthropic or an OpenAI-compatible server) answering JSON.
    Provider "local" means no LLM: the tasks use the embedded local analysers instead."""

    provider: Literal["local", "openai", "anthropic", "openai_compatible"] = "local"
    model: str = ""
    base_url: str | None = None
    api_key_env: str | None = Field(
        default=None,
        description="Environment variable holding the key (default OPENAI_API_KEY / ANTHROPIC_API_KEY; "
        "an openai_compatible server may need none). Read at call time, never stored.",
    )
    cache_dir: str = Field(
        description="Folder of cached replies (<key[:2]>/<key>.json) and rejected/ replies."
    )
    shared_cache: ArtifactStoreResource | None = Field(
        default=None,
        description="An S3 artifact store whose cache/llm/ holds the replies too, so every machine shares them "
        "(cache_dir is then its local mirror of cache/llm).",
    )
    request_timeout_s: float = Field(default=60.0, gt=0, description="Timeout of one HTTP request.")
    deadline_s: float = Field(
        default=180.0, gt=0, description="Wall-clock limit of one call, all retries included."
    )
    max_attempts: int = Field(
        default=4, ge=1, description="HTTP attempts per ask (429, 5xx, timeouts are retried)."
    )
    schema_reasks: int = Field(
        default=1, ge=0, description="Re-asks with the validation error when a reply is invalid."
    )
    temperature: float = Field(
        default=0.0, ge=0, description="Sent to OpenAI-style APIs (Anthropic's API has none)."
    )
    max_output_tokens: int = Field(default=2048, ge=1)
    budget_usd: float | None = Field(default=None, ge=0, description="Refuse calls once this much is spent.")
    backoff_base_s: float = Field(
        default=1.0, gt=0, description="First backoff ceiling; doubles per attempt."
    )
    backoff_cap_s: float = Field(default=30.0, gt=0, description="Largest backoff ceiling.")

    @classmethod
    def from_settings(
        cls,
        settings: LLMSettings,
        cache_dir: str,
        *,
        budget_usd: float | None = None,
        shared_cache: ArtifactStoreResource | None = None,
    ) -> LLMResource:
        """The resource configured by configs/pipeline.yaml's `llm:` block (and the spend cap of
        `training.budget_usd`, which every call checks against the caller's running total)."""
        # every setting is a field of the resource under the same name (a new one cannot be forgotten here)
        fields = settings.model_dump(exclude={"model"})
        return cls(**fields, model=settings.model or "", budget_usd=budget_usd, cache_dir=cache_dir,
                   shared_cache=shared_cache)  # fmt: skip

    @property
    def enabled(self) -> bool:
        """False when the pipeline is configured to use the local analysers instead of an LLM."""
        return self.provider != "local"

    def complete_json(
        self,
        *,
        task: str,
        system: str,
        prompt: str,
        schema: type[M],
        prompt_version: str | None = None,
        spent_usd: float = 0.0,
    ) -> tuple[M, CallRecord]:
        """Ask for a JSON object matching `schema`; return it validated, with what the call cost.

        Raises LLMRetryableError (a later run may succeed), LLMResponseError (invalid after the re-asks;
        its path is the kept raw reply), BudgetExceededError, LLMConfigError, or LLMError (a 4xx).
        Errors raised after a request carry `record`: what was spent until then.
        """
        if not self.enabled:
            raise LLMConfigError(
                f"{task}: no LLM is configured (llm.provider is 'local')",
                fix="set llm.provider and llm.model in configs/pipeline.yaml, or use the local analysers",
            )
        started = time.monotonic()
        schema_json = schema.model_json_schema()
        key = cache_key(
            CACHE_FORMAT, self.provider, self.model, self.base_url, system, prompt,
            self.temperature, self.max_output_tokens, schema_json,
        )  # fmt: skip
        spend = _Spend()

        def record(*, cached: bool = False) -> CallRecord:
            cost = cost_of(self.model, spend.input_tokens, spend.output_tokens) if spend.usage_known else None
            return CallRecord(
                task=task,
                provider=self.provider,
                model=self.model,
                prompt_version=prompt_version,
                input_tokens=spend.input_tokens,
                output_tokens=spend.output_tokens,
                cost_usd=0.0 if cached else cost,
                cached=cached,
                attempts=spend.attempts,
                seconds=round(time.monotonic() - started, 3),
            )

        if (hit := self._cached(key, schema)) is not None:
            return hit, record(cached=True)
        if self.budget_usd is not None and cost_of(self.model, 0, 0) is None:
            raise LLMConfigError(
                f"{task}: budget_usd is set but the price of model {self.model!r} is unknown, so spending "
                "cannot be tracked",
                fix="unset budget_usd, or use a model listed in podcast_assets/core/llm.py PRICES_PER_MTOK",
            )
        self._check_budget(task, spent_usd, None)
        api_key = self._api_key(task)
        full_system = (
            f"{system}\n\nAnswer with one JSON object only (no prose, no code fence) that validates against "
            f"this JSON schema:\n{json.dumps(schema_json, sort_keys=True)}"
        )
        messages: list[dict[str, str]] = [{"role": "user", "content": prompt}]
        deadline = started + self.deadline_s
        rejected: list[str] = []
        client = self._client(api_key)
        try:
            for ask in range(self.schema_reasks + 1):
                if ask:
                    self._check_budget(task, spent_usd + (record().cost_usd or 0.0), record())
                reply = self._request(client, task, full_system, messages, deadline, spend, api_key, record)
                problem = reply.problem
                if problem is None:
                    try:
                        value = validate_reply(reply.text, schema)
                    except ValueError as exc:  # pydantic's ValidationError is a ValueError too
                        problem = str(exc) + (
                            " (the reply was cut off at max_output_tokens)" if reply.cut_off else ""
                        )
                    else:
                        self._store(key, task, prompt_version, value, reply.text, record())
                        return value, record()
                kept = reply.raw if reply.problem else reply.text
                rejected.append(f"--- ask {ask + 1}: {problem}\n{_redact(kept, api_key)}\n")
                if reply.text.strip():
                    messages = [*messages, {"role": "assistant", "content": reply.text}]
                    messages.append({"role": "user", "content": REASK.format(problem=problem)})
        finally:
            client.close()
        path = Path(self.cache_dir) / "rejected" / f"{key}.txt"
        atomic_write_bytes(path, "".join(rejected).encode())
        raise LLMResponseError(
            f"{task}: the model's reply did not match {schema.__name__} "
            f"after {self.schema_reasks + 1} ask(s): {problem}",
            path=path,
            fix="read the kept reply; raise max_output_tokens if it was cut off, or check the prompt and "
            "model. Nothing was cached, so a re-run asks again",
            record=record(),
        )

    def _request(
        self,
        client: Any,
        task: str,
        system: str,
        messages: list[dict[str, str]],
        deadline: float,
        spend: _Spend,
        api_key: str,
        record: Callable[[], CallRecord],
    ) -> _Reply:
        """One ask: send until a 200 arrives, retrying transient failures within attempts and deadline."""
        rng = random.Random()
        for attempt in range(1, self.max_attempts + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LLMRetryableError(
                    f"{task}: no reply within the {self.deadline_s:g} s deadline",
                    fix="run again later; a slow (local) model needs a longer llm.request_timeout_s and llm.deadline_s",
                    record=record(),
                )
            spend.attempts += 1
            outcome = self._send(client, system, messages, min(self.request_timeout_s, remaining))
            if isinstance(outcome, _Reply):
                spend.add(outcome)
                return outcome
            text = f"{task}: {self.provider} {_redact(outcome.text, api_key)}"
            if not outcome.retryable:
                raise LLMError(text, fix=_fix_for(outcome.status, self._key_env()), record=record())
            if attempt == self.max_attempts:
                break
            try:
                delay = backoff_delay(
                    attempt,
                    base=self.backoff_base_s,
                    cap=self.backoff_cap_s,
                    retry_after=outcome.retry_after,
                    rng=rng,
                    remaining=deadline - time.monotonic(),
                )
            except LLMRetryableError as exc:
                raise LLMRetryableError(f"{text}; {exc.message}", fix=exc.fix, record=record()) from None
            dg.get_dagster_logger().warning(
                f"{text}; retrying in {delay:.1f} s (attempt {attempt + 1} of {self.max_attempts})"
            )
            time.sleep(delay)
        raise LLMRetryableError(
            f"{text} (gave up after {self.max_attempts} attempts)",
            fix="run again later; a later run may succeed",
            record=record(),
        )

    def _send(
        self, client: Any, system: str, messages: list[dict[str, str]], timeout: float
    ) -> _Reply | _Failure:
        """One HTTP request. SDK exceptions are reduced to `_Failure` here and never leave this method."""
        sdk = self._sdk()
        try:
            if self.provider == "anthropic":
                raw = client.messages.with_raw_response.create(
                    model=self.model,
                    max_tokens=self.max_output_tokens,
                    system=system,
                    messages=messages,
                    timeout=timeout,
                )
            else:
                # OpenAI itself wants max_completion_tokens and JSON mode; compatible servers know max_tokens
                native = self.provider == "openai"
                options: dict[str, Any] = {"response_format": {"type": "json_object"}} if native else {}
                options["max_completion_tokens" if native else "max_tokens"] = self.max_output_tokens
                raw = client.chat.completions.with_raw_response.create(
                    model=self.model,
                    messages=[{"role": "system", "content": system}, *messages],
                    temperature=self.temperature,
                    timeout=timeout,
                    **options,
                )
            body = raw.http_response.text
        except sdk.APITimeoutError:
            return _Failure(retryable=True, text=f"sent no reply within {timeout:.1f} s")
        except sdk.APIConnectionError:
            return _Failure(retryable=True, text="connection failed or was dropped")
        except sdk.APIStatusError as exc:
            return _status_failure(exc.status_code, exc.body, exc.response.headers)
        except sdk.APIError as exc:
            return _Failure(retryable=False, text=f"request failed ({type(exc).__name__})")
        except ValueError as exc:  # a body the SDK itself failed to decode
            raw = getattr(exc, "doc", "")
            return _Reply(text="", raw=raw, input_tokens=None, output_tokens=None, problem=BAD_BODY)
        return _parse_body(self.provider, body)

    def _sdk(self) -> ModuleType:
        """The provider's SDK, imported on first use (anthropic alone takes seconds to import)."""
        return importlib.import_module("anthropic" if self.provider == "anthropic" else "openai")

    def _client(self, api_key: str) -> Any:
        """A fresh SDK client: no SDK retries (we retry), our timeout; the key lives only in the client."""
        client_class = self._sdk().Anthropic if self.provider == "anthropic" else self._sdk().OpenAI
        return client_class(
            api_key=api_key, base_url=self.base_url, max_retries=0, timeout=self.request_timeout_s
        )

    def _key_env(self) -> str | None:
        return self.api_key_env or DEFAULT_KEY_ENV.get(self.provider)

    def _api_key(self, task: str) -> str:
        """The key from the environment, read now and never kept (a dummy for a keyless local server)."""
        name = self._key_env()
        if name is None:
            return NO_KEY_NEEDED
        value = (dg.EnvVar(name).get_value() or "").strip()
        if not value:
            raise LLMConfigError(
                f"{task}: environment variable {name} (the {self.provider} API key) is not set",
                fix=f"export {name}=<your key>, or name another variable with llm.api_key_env "
                "in configs/pipeline.yaml",
            )
        return value

    def _check_budget(self, task: str, spent: float, record: CallRecord | None) -> None:
        if self.budget_usd is not None and spent >= self.budget_usd:
            raise BudgetExceededError(
                f"{task}: the LLM budget of ${self.budget_usd:g} is used up "
                f"(${spent:.4f} spent); no request made",
                fix="raise budget_usd to continue; results finished so far are kept",
                record=record,
            )

    def _cache_path(self, key: str) -> Path:
        return Path(self.cache_dir) / key[:2] / f"{key}.json"

    def _cached(self, key: str, schema: type[M]) -> M | None:
        """The cached reply, or None. An unreadable or outdated entry is a miss (and is overwritten later)."""
        try:
            if self.shared_cache is not None:
                store = self.shared_cache.open()
                rel = f"{SHARED_CACHE_PREFIX}/{key[:2]}/{key}.json"
                data = store.read_bytes(rel) if store.exists(rel) else None
            else:
                data = self._cache_path(key).read_bytes()
            entry = json.loads(data) if data is not None else None
            return schema.model_validate(entry["reply"]) if entry is not None else None
        except (OSError, ValueError, KeyError, TypeError, ValidationError, StorageError):
            return None

    def _store(
        self, key: str, task: str, prompt_version: str | None, value: BaseModel, raw: str, rec: CallRecord
    ) -> None:
        entry = {
            "format": CACHE_FORMAT,
            "task": task,
            "provider": self.provider,
            "model": self.model,
            "prompt_version": prompt_version,
            "reply": value.model_dump(mode="json"),
            "raw_reply": raw,
            "input_tokens": rec.input_tokens,
            "output_tokens": rec.output_tokens,
            "cost_usd": rec.cost_usd,
        }
        data = json.dumps(entry, indent=1).encode()
        if self.shared_cache is not None:
            self.shared_cache.open().write_bytes(f"{SHARED_CACHE_PREFIX}/{key[:2]}/{key}.json", data)
        else:
            atomic_write_bytes(self._cache_path(key), data)


def _redact(text: str, api_key: str) -> str:
    return text.replace(api_key, "[redacted]") if api_key and api_key != NO_KEY_NEEDED else text


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _parse_body(provider: str, body: str) -> _Reply:
    """Read the assistant text and usage from a 200 body, whatever the body turns out to be."""
    try:
        data = json.loads(body)
        if provider == "anthropic":
            blocks = data["content"]
            text = "".join(b["text"] for b in blocks if isinstance(b, dict) and b.get("type") == "text")
            finish, in_key, out_key = data.get("stop_reason"), "input_tokens", "output_tokens"
        else:
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
            finish, in_key, out_key = choice.get("finish_reason"), "prompt_tokens", "completion_tokens"
        if not isinstance(text, str):
            raise TypeError("reply text is not a string")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return _Reply(text="", raw=body, input_tokens=None, output_tokens=None, problem=BAD_BODY)
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return _Reply(
        text=text,
        raw=body,
        input_tokens=_int_or_none(usage.get(in_key)),
        output_tokens=_int_or_none(usage.get(out_key)),
        cut_off=finish in ("length", "max_tokens"),
        problem=None if text.strip() else "the reply holds no text",
    )


def _retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` or `retry-after` (seconds or HTTP date); None if absent or unreadable."""
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return float(ms) / 1000
        if (value := headers.get("retry-after")) is None:
            return None
        try:
            return float(value)
        except ValueError:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _status_failure(status: int, body: object, headers: Any) -> _Failure:
    """An HTTP error as status, error type and a short message from the body; Retry-After if transient."""
    error = body.get("error", body) if isinstance(body, dict) else {}
    error = error if isinstance(error, dict) else {}
    kind = " ".join(str(error.get("type") or "error").split())[:60]
    message = " ".join(str(error.get("message") or "").split())[:200]
    retryable = status in (408, 409, 429) or status >= 500
    return _Failure(
        retryable=retryable,
        text=f"answered HTTP {status} {kind}" + (f": {message}" if message else ""),
        status=status,
        retry_after=_retry_after(headers) if retryable else None,
    )


def _fix_for(status: int | None, key_env: str | None) -> str:
    if status in (401, 403):
        return (
            f"check the API key in ${key_env} and its permissions"
            if key_env
            else "check the server's authentication"
        )
    if status == 404:
        return "check the model name and base_url"
    if status in (400, 413, 422):
        return "check the model name, max_output_tokens and the prompt size"
    return "check the provider settings in configs/pipeline.yaml"
