"""A teacher behind any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, TGI, HF Inference Providers).

Requests go through :class:`huggingface_hub.AsyncInferenceClient` with a base URL and an API key.
At most ``max_concurrency`` requests are in flight, optionally no more than
``requests_per_minute``; HTTP 408/429/5xx, timeouts, connection failures and malformed responses
are retried with exponential backoff (``Retry-After`` is honoured); an authentication failure or
another 4xx stops the run at once with one error. ``timeout`` bounds each whole request (a server
that trickles its reply cannot stall a run). The endpoint gets exactly the key given, or no
``Authorization`` header at all: never huggingface_hub's own token. Nothing said to the user
contains the API key or more of the base URL than its host.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import threading
from typing import Callable, Sequence
from urllib.parse import urlsplit

from ..errors import ConfigError, TeacherError
from .base import Completion, Job, SamplingParams, Teacher, cut_at_stop
from .scrub import scrub

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
HF_HOSTS = ("huggingface.co", "hf.space", "huggingface.cloud")
RETRYABLE_STATUS = {408, 409, 425, 429} | set(range(500, 600))


class _Retryable(Exception):
    """A failure worth another attempt; ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


def host_of(base_url: str) -> str:
    """The host (and port) of a URL: all of it that may be recorded (user info, path and query may hold credentials)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"expected an http(s) URL, got {parts.scheme or 'no'} scheme", field="base_url")
    return parts.hostname + (f":{parts.port}" if parts.port else "")


def is_hf_host(base_url: str) -> bool:
    """Whether the URL's host is a Hugging Face one (``huggingface.co`` or a subdomain: matched on a dot boundary)."""
    host = host_of(base_url).split(":")[0].lower()
    return any(host == name or host.endswith("." + name) for name in HF_HOSTS)


class _RateLimiter:
    """Spaces request starts at least ``60 / requests_per_minute`` seconds apart (no limit when None)."""

    def __init__(self, requests_per_minute: float | None):
        self.interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self.next_start = 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        now = asyncio.get_running_loop().time()
        start = max(now, self.next_start)
        self.next_start = start + self.interval
        await asyncio.sleep(start - now)


class OpenAICompatibleTeacher(Teacher):
    """Samples rationales from a chat-completions endpoint; one user message holds the few-shot prompt.

    ``samples_per_request`` caps the ``n`` asked for in one request (set 1 for servers that ignore
    ``n``; a server returning fewer choices than asked is asked again for the rest).
    """

    kind = "openai-compatible"

    def __init__(self, model: str, *, base_url: str = DEFAULT_BASE_URL, api_key: str | None = None,
                 api_key_name: str = "the API key", max_concurrency: int = 8, requests_per_minute: float | None = None,
                 max_retries: int = 5, backoff: float = 1.0, max_backoff: float = 60.0, timeout: float = 120.0,
                 samples_per_request: int | None = None):
        if not model:
            raise ConfigError("an endpoint teacher needs a model name", field="model")
        if max_concurrency < 1 or max_retries < 0 or timeout <= 0 or (samples_per_request is not None and samples_per_request < 1):
            raise ConfigError("max_concurrency and samples_per_request must be >= 1, max_retries >= 0, timeout > 0")
        self.model, self.base_url, self.host = model, base_url.rstrip("/"), host_of(base_url)
        self._api_key, self.api_key_name = api_key, api_key_name
        self.max_concurrency, self.requests_per_minute = max_concurrency, requests_per_minute
        self.max_retries, self.backoff, self.max_backoff, self.timeout = max_retries, backoff, max_backoff, timeout
        self.samples_per_request = samples_per_request

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(model={self.model!r}, host={self.host!r})"

    def describe(self) -> dict:
        return {"kind": self.kind, "model": self.model, "host": self.host}

    def complete(self, prompt: str, n: int, sampling: SamplingParams) -> Completion:
        results = []
        self.generate([Job(None, prompt, n)], sampling, lambda job, completion: results.append(completion))
        return results[0]

    def generate(self, jobs: Sequence[Job], sampling: SamplingParams,
                 on_done: Callable[[Job, Completion], None]) -> None:
        from huggingface_hub import constants

        if jobs and constants.is_offline_mode():
            raise TeacherError(f"HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set, so huggingface_hub refuses every HTTP "
                               f"request, {self.host} included; unset them to use an endpoint teacher")
        coroutine = self._run(list(jobs), sampling, on_done)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(coroutine)
            return
        # Called from inside an event loop (a notebook): run ours in a thread of its own.
        errors = []
        thread = threading.Thread(target=lambda: errors.append(_capture(lambda: asyncio.run(coroutine))))
        thread.start()
        thread.join()
        if errors[0] is not None:
            raise errors[0]

    async def _run(self, jobs: list[Job], sampling: SamplingParams, on_done) -> None:
        from huggingface_hub import AsyncInferenceClient

        # huggingface_hub sends its own token (HF_TOKEN, the login cache) when given no key; an explicit
        # header (None: none at all) is the only way to send exactly the key the user gave.
        authorization = f"Bearer {self._api_key}" if self._api_key else None
        client = AsyncInferenceClient(base_url=self.base_url, api_key=self._api_key, timeout=self.timeout,
                                      headers={"authorization": authorization})
        slots, limiter = asyncio.Semaphore(self.max_concurrency), _RateLimiter(self.requests_per_minute)

        async def run_job(job: Job) -> None:
            received = 0
            while received < job.n:
                ask = min(job.n - received, self.samples_per_request or job.n)
                async with slots:
                    texts, prompt_tokens, completion_tokens = await self._request(client, limiter, job.prompt, ask, sampling)
                texts = [cut_at_stop(text, sampling.stop) for text in texts[:ask]]
                on_done(job, Completion(texts, prompt_tokens, completion_tokens))  # cached now, not when the job ends
                received += len(texts)

        tasks = [asyncio.ensure_future(run_job(job)) for job in jobs]
        try:
            if tasks:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in tasks:  # the first failure (in job order) ends the run
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await client.close()

    async def _request(self, client, limiter: _RateLimiter, prompt: str, n: int,
                       sampling: SamplingParams) -> tuple[list[str], int, int]:
        """One chat-completions call, retried; returns (texts, prompt tokens, completion tokens)."""
        for attempt in itertools.count():
            await limiter.wait()
            try:
                # the whole request's deadline: the client's timeout bounds each read only
                return await asyncio.wait_for(self._ask(client, prompt, n, sampling), self.timeout)
            except Exception as error:  # classified below: retried, fatal, or not ours
                failure = self._classify(error)
            if attempt == self.max_retries:
                raise TeacherError(f"{self.host}: giving up after {attempt + 1} attempts: {failure}")
            delay = failure.retry_after if failure.retry_after is not None else self.backoff * 2 ** attempt * (1 + random.random() / 4)
            delay = min(delay, self.max_backoff)
            logger.warning("%s: %s; retry %d/%d in %.1fs", self.host, failure, attempt + 1, self.max_retries, delay)
            await asyncio.sleep(delay)

    async def _ask(self, client, prompt: str, n: int, sampling: SamplingParams) -> tuple[list[str], int, int]:
        """One chat-completions request, the prompt as the user's message (a served student overrides it)."""
        response = await client.chat_completion(
            [{"role": "user", "content": prompt}], model=self.model, n=n if n > 1 else None,
            temperature=sampling.temperature, top_p=sampling.top_p, max_tokens=sampling.max_new_tokens,
            seed=sampling.seed, stop=list(sampling.stop) or None)
        return _parse(response)

    def _classify(self, error: Exception) -> _Retryable:
        """A retryable failure, or raise :class:`TeacherError` (fatal) or the error itself (a bug)."""
        from huggingface_hub.errors import HfHubHTTPError

        if isinstance(error, HfHubHTTPError) and error.response is not None:
            status, body = error.response.status_code, self._scrub(error.response.text.strip()[:300])
            if status in (401, 403):
                raise TeacherError(f"{self.host}: authentication failed (HTTP {status}); check {self.api_key_name}. "
                                   f"Server said: {body}") from None
            if status in RETRYABLE_STATUS:
                return _Retryable(f"HTTP {status}", _retry_after(error.response.headers.get("retry-after")))
            raise TeacherError(f"{self.host}: request refused (HTTP {status}): {body}") from None
        if isinstance(error, TimeoutError):
            return _Retryable(f"no response within {self.timeout:g}s")
        if isinstance(error, _Malformed):
            return _Retryable(f"malformed response ({error})")
        if isinstance(error, ValueError):  # the body was not JSON
            return _Retryable(f"malformed response (not JSON: {self._scrub(str(error))[:200]})")
        if type(error).__module__.split(".")[0] in ("httpx", "httpx2"):  # connection refused, DNS, reset...
            return _Retryable(f"cannot reach the endpoint ({type(error).__name__}: {self._scrub(str(error))[:200]})")
        raise error

    def _scrub(self, text: str) -> str:
        """``text`` without the API key, the full base URL, or any URL's credentials."""
        return scrub(text.replace(self.base_url, self.host), [self._api_key])


class _Malformed(ValueError):
    """A JSON response that is not a chat completion."""


def _parse(response) -> tuple[list[str], int, int]:
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise _Malformed("no 'choices'")
    texts = []
    for choice in choices:
        content = getattr(getattr(choice, "message", None), "content", None)
        if not isinstance(content, str):
            raise _Malformed("a choice has no message content")
        texts.append(content)
    usage = getattr(response, "usage", None)
    return texts, getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: fall back to our own backoff
        return None


def _capture(function) -> BaseException | None:
    try:
        function()
    except BaseException as error:  # handed back to the calling thread
        return error
    return None
