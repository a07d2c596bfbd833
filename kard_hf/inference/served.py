"""A student served behind an OpenAI-compatible endpoint (``vllm serve ./student``, SGLang), for ``evaluate``/``predict``.

Only generation moves to the server: retrieval, reranking, the prompt (built by the student's own collator from
its spec and tokenizer), the ``n`` samples, answer parsing and voting stay kard_hf's. The endpoint options,
errors, retries, timeouts and credential scrubbing are the endpoint teacher's
(:class:`~kard_hf.teacher.openai_compat.OpenAICompatibleTeacher`, :class:`~kard_hf.teacher.commands.TeacherArguments`).

Two APIs: ``completions`` (the default) sends the prompt's token ids, so the served student reads exactly the
input it was trained on; ``chat`` sends the user turn's text and lets the server apply the chat template, which
matches training where the template's generation prompt is the turn header the student was trained on (Qwen2.5,
Llama 3.2; not Qwen3's thinking mode) and the text tokenizes back to the same ids.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from ..errors import ConfigError
from ..teacher.base import Job, SamplingParams
from ..teacher.commands import TeacherArguments, api_key_from_env
from ..teacher.openai_compat import OpenAICompatibleTeacher, _Malformed
from ..teacher.scrub import scrub_logs
from .pipeline import Decoding, KARDPipeline, load_retrieval

SERVED_APIS = ("completions", "chat")
# The endpoint teacher's options that a served student takes as they are.
ENDPOINT_OPTIONS = ("api_key_env", "max_concurrency", "requests_per_minute", "max_retries", "backoff", "max_backoff",
                    "request_timeout", "samples_per_request")


def _teacher_option(name: str):
    option = next(f for f in dataclasses.fields(TeacherArguments) if f.name == name)
    if option.default_factory is not dataclasses.MISSING:
        return field(default_factory=option.default_factory, metadata=option.metadata)
    return field(default=option.default, metadata=option.metadata)


@dataclass(kw_only=True)
class ServedStudentArguments:
    """Where a served student answers; without ``base_url`` the student is loaded and run in-process."""

    base_url: str | None = field(default=None, metadata={
        "help": "Base URL of an OpenAI-compatible server running the student (vllm serve ./student: "
                "http://host:8000/v1): prompts are sent there instead of loading the model. The student folder or "
                "Hub id still gives the spec and the tokenizer."})
    served_model: str | None = field(default=None, metadata={
        "help": "The model name the server knows the student by (default: --student, as vllm serve names it)."})
    served_api: str = field(default="completions", metadata={
        "help": "completions (sends the prompt's token ids: exactly the training input) or chat (sends the user turn; "
                "the server applies the chat template)."})
    api_key_env: str | None = _teacher_option("api_key_env")
    max_concurrency: int = _teacher_option("max_concurrency")
    requests_per_minute: float | None = _teacher_option("requests_per_minute")
    max_retries: int = _teacher_option("max_retries")
    backoff: float = _teacher_option("backoff")
    max_backoff: float = _teacher_option("max_backoff")
    request_timeout: float = _teacher_option("request_timeout")
    samples_per_request: int | None = _teacher_option("samples_per_request")

    def __post_init__(self):
        if self.served_api not in SERVED_APIS:
            raise ConfigError(f"unknown served_api {self.served_api!r}; expected one of {', '.join(SERVED_APIS)}",
                              field="served_api")

    def endpoint(self, student: str, config) -> "EndpointStudent":
        """The client of the served ``student`` (whose model config is ``config``)."""
        api_key, key_name = api_key_from_env(self.api_key_env, self.base_url)
        scrub_logs([api_key])  # the HTTP client logs each request URL, credentials of the base URL included
        return EndpointStudent(
            self.served_model or student, config, api=self.served_api, base_url=self.base_url, api_key=api_key,
            api_key_name=key_name, max_concurrency=self.max_concurrency, requests_per_minute=self.requests_per_minute,
            max_retries=self.max_retries, backoff=self.backoff, max_backoff=self.max_backoff,
            timeout=self.request_timeout, samples_per_request=self.samples_per_request)


class EndpointStudent(OpenAICompatibleTeacher):
    """The endpoint teacher's client speaking to a served student; it stands where the pipeline's model stands
    (``config`` is the student's model config)."""

    kind = "served-student"

    def __init__(self, model: str, config, *, api: str = "completions", **options):
        super().__init__(model, **options)
        self.config, self.api = config, api

    async def _ask(self, client, prompt, n: int, sampling: SamplingParams) -> tuple[list[str], int, int]:
        if self.api == "chat":
            return await super()._ask(client, prompt, n, sampling)
        from huggingface_hub.utils import get_async_session, hf_raise_for_status

        body = {"model": self.model, "prompt": prompt, "n": n, "temperature": sampling.temperature,
                "top_p": sampling.top_p, "max_tokens": sampling.max_new_tokens, "seed": sampling.seed}
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        async with get_async_session() as session:
            response = await session.post(f"{self.base_url}/completions", json=body, headers=headers,
                                          timeout=self.timeout)
        hf_raise_for_status(response)
        return _parse_completions(response.json())


def _parse_completions(payload) -> tuple[list[str], int, int]:
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if not isinstance(choices, list) or not choices or not all(isinstance(c, dict) and isinstance(c.get("text"), str)
                                                               for c in choices):
        raise _Malformed("no 'choices' with a 'text'")
    usage = payload.get("usage") or {}
    return [c["text"] for c in choices], usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0


class ServedPipeline(KARDPipeline):
    """A :class:`KARDPipeline` whose generations come from a served student (``model`` is an :class:`EndpointStudent`)."""

    seed = 0

    @classmethod
    def from_served(cls, student: str, served: ServedStudentArguments, *, reranker=None, knowledge_base=None,
                    **kwargs) -> "ServedPipeline":
        """The spec, tokenizer and config of ``student`` (a folder or Hub id), and the client of its server."""
        from transformers import AutoConfig, AutoTokenizer

        from ..distill.spec import StudentSpec
        from ..hub import resolve_folder
        from ..lm import is_seq2seq

        folder = resolve_folder(student, what="student")
        spec = StudentSpec.load(folder)
        try:
            config = AutoConfig.from_pretrained(folder)
        except (OSError, ValueError) as e:
            raise ConfigError(f"a served student must be a full decoder-only model folder (not a LoRA adapter): "
                              f"{str(e).splitlines()[0]}", file=str(student), field="base_url") from None
        if is_seq2seq(config):
            raise ConfigError("only decoder-only students can be served (vLLM and SGLang serve causal LMs); "
                              "evaluate a seq2seq student without --base_url", file=str(student), field="base_url")
        tokenizer = AutoTokenizer.from_pretrained(folder)
        if tokenizer.pad_token is None:  # as load_lm: the collator pads with it (never sent)
            tokenizer.pad_token = tokenizer.eos_token
        if served.served_api == "chat" and spec.chat_format is None:
            raise ConfigError("served_api chat needs a student trained with a chat format; this one reads the plain "
                              "layout: use served_api completions", file=str(student), field="served_api")
        return cls(served.endpoint(str(student), config), tokenizer, spec,
                   **load_retrieval(reranker, knowledge_base), **kwargs)

    def __call__(self, examples, *, seed: int = 0, **kwargs):
        self.seed = seed  # sent with every request: servers that honour it sample reproducibly
        return super().__call__(examples, seed=seed, **kwargs)

    def generate_from_ids(self, prompts: list[list[int]], decoding: Decoding, *,
                          show_progress: bool = False) -> list[list[str]]:
        greedy = decoding.strategy == "greedy"
        sampling = SamplingParams(temperature=0.0 if greedy else decoding.temperature,
                                  top_p=1.0 if greedy else decoding.top_p, max_new_tokens=decoding.max_new_tokens,
                                  seed=self.seed, stop=[])
        n = 1 if greedy else decoding.num_samples
        sent = prompts if self.model.api == "completions" else [self.collator.user_turn(ids) for ids in prompts]
        outputs: list[list[str]] = [[] for _ in prompts]
        with tqdm(total=len(prompts) * n, disable=not show_progress, desc="generating (served)", unit="sample") as bar:
            def done(job: Job, completion) -> None:
                outputs[job.key] += completion.texts
                bar.update(len(completion.texts))

            self.model.generate([Job(i, prompt, n) for i, prompt in enumerate(sent)], sampling, done)
        return outputs
