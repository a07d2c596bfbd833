"""A teacher that is a local transformers model (seq2seq or causal), sampled in batches, for users without an API."""

from __future__ import annotations

from itertools import groupby
from typing import Callable, Sequence

from ..errors import ConfigError
from ..lm import load_prompted_lm
from .base import Completion, Job, SamplingParams, Teacher, cut_at_stop


class TransformersTeacher(Teacher):
    """Samples rationales with ``model.generate`` on batches of ``batch_size`` prompts (dynamic padding).

    Instruction-tuned tokenizers with a chat template get the prompt as one user message
    (``use_chat_template``); others read the raw few-shot text and continue it. A prompt longer
    than ``max_input_tokens`` (for a causal model, by default what its position embeddings leave
    room for besides the new tokens) loses its beginning, never the question at its end.
    """

    kind = "transformers"

    def __init__(self, model_name_or_path: str, *, batch_size: int = 4, use_chat_template: bool = True,
                 max_input_tokens: int | None = None, device: str | None = None):
        import torch

        if batch_size < 1:
            raise ConfigError("batch_size must be >= 1", field="batch_size")
        self.model_name, self.model = model_name_or_path, str(model_name_or_path)
        self.lm, self.tokenizer = load_prompted_lm(model_name_or_path, purpose="teacher")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.lm.to(self.device)
        self.batch_size, self.max_input_tokens = batch_size, max_input_tokens
        self.use_chat_template = use_chat_template and getattr(self.tokenizer, "chat_template", None) is not None

    def _input_limit(self, max_new_tokens: int) -> int | None:
        if self.max_input_tokens or self.lm.config.is_encoder_decoder:
            return self.max_input_tokens
        positions = getattr(self.lm.config, "max_position_embeddings", None) or getattr(self.lm.config, "n_positions", None)
        if positions and positions <= max_new_tokens:
            raise ConfigError(f"max_new_tokens {max_new_tokens} leaves no room for the prompt in {positions} positions",
                              field="max_new_tokens")
        return positions - max_new_tokens if positions else None

    def _input_text(self, prompt: str) -> str:
        if self.use_chat_template:
            return self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                      add_generation_prompt=True)
        return prompt

    def complete(self, prompt: str, n: int, sampling: SamplingParams) -> Completion:
        return self._generate_batch([prompt], n, sampling)[0]

    def generate(self, jobs: Sequence[Job], sampling: SamplingParams,
                 on_done: Callable[[Job, Completion], None]) -> None:
        for n, same_n in groupby(sorted(jobs, key=lambda job: job.n), key=lambda job: job.n):
            same_n = list(same_n)
            for start in range(0, len(same_n), self.batch_size):
                batch = same_n[start:start + self.batch_size]
                for job, completion in zip(batch, self._generate_batch([job.prompt for job in batch], n, sampling)):
                    on_done(job, completion)

    def _generate_batch(self, prompts: list[str], n: int, sampling: SamplingParams) -> list[Completion]:
        import torch

        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        limit = self._input_limit(sampling.max_new_tokens)
        inputs = self.tokenizer([self._input_text(p) for p in prompts], return_tensors="pt", padding=True,
                                truncation=limit is not None, max_length=limit,
                                add_special_tokens=not self.use_chat_template).to(self.device)
        with torch.no_grad():
            output = self.lm.generate(**inputs, do_sample=sampling.temperature > 0, temperature=sampling.temperature or None,
                                      top_p=sampling.top_p, max_new_tokens=sampling.max_new_tokens,
                                      num_return_sequences=n, pad_token_id=self.tokenizer.pad_token_id,
                                      # generation ends at a stop string; the text is still cut there
                                      stop_strings=[s for s in sampling.stop if s] or None, tokenizer=self.tokenizer)
        if not self.lm.config.is_encoder_decoder:
            output = output[:, inputs["input_ids"].shape[1]:]  # drop the prompt
        texts = self.tokenizer.batch_decode(output, skip_special_tokens=True)
        new_tokens = (output != self.tokenizer.pad_token_id).sum(dim=1).tolist()
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        return [Completion([cut_at_stop(t, sampling.stop) for t in texts[i * n:(i + 1) * n]], int(prompt_tokens[i]),
                           int(sum(new_tokens[i * n:(i + 1) * n]))) for i in range(len(prompts))]
