"""A loopback OpenAI-compatible server that runs a student folder with transformers, as ``vllm serve ./student`` would.

``POST /v1/completions`` takes a prompt as token ids (or text) and ``POST /v1/chat/completions`` messages, which it
renders with the student's chat template and generation prompt. Each answers ``n`` choices: greedy when
``temperature`` is 0, else sampled with the request's ``seed``. Generation stops at ``stop_token_ids`` (vLLM's
generation-config end tokens). Request bodies are recorded; ``script`` lists the HTTP statuses of the first replies.
"""

from __future__ import annotations

import threading

import torch

from loopback import LoopbackServer


class StudentServer(LoopbackServer):
    def __init__(self, folder, stop_token_ids: list[int], *, script=()):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model = AutoModelForCausalLM.from_pretrained(folder).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.stop_token_ids, self.script = stop_token_ids, list(script)
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self._serve_json(self.respond)

    def respond(self, path: str, body: dict, headers) -> tuple[int, dict]:
        with self.lock:
            body["_path"], body["_authorization"] = path, headers.get("Authorization")
            self.requests.append(body)
            status = self.script.pop(0) if self.script else 200
            return status, self.answer(body) if status == 200 else {"error": {"message": "try again"}}

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def prompt_ids(self, body: dict) -> list[int]:
        if body["_path"].endswith("/chat/completions"):
            text = self.tokenizer.apply_chat_template(body["messages"], tokenize=False, add_generation_prompt=True)
            return self.tokenizer(text, add_special_tokens=False)["input_ids"]
        prompt = body["prompt"]
        return prompt if isinstance(prompt, list) else self.tokenizer(prompt)["input_ids"]

    @torch.no_grad()
    def answer(self, body: dict) -> dict:
        ids = torch.tensor([self.prompt_ids(body)])
        greedy = not body.get("temperature")
        if not greedy and body.get("seed") is not None:
            torch.manual_seed(body["seed"])
        options = {"do_sample": False} if greedy else {"do_sample": True, "temperature": body["temperature"],
                                                       "top_p": body.get("top_p") or 1.0, "top_k": 0}
        texts = []
        for _ in range(body.get("n") or 1):
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=body["max_tokens"],
                                      eos_token_id=self.stop_token_ids, pad_token_id=self.tokenizer.pad_token_id,
                                      **options)
            texts.append(self.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True))
        if body["_path"].endswith("/chat/completions"):
            choices = [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
                       for i, t in enumerate(texts)]
        else:
            choices = [{"index": i, "text": t, "finish_reason": "stop"} for i, t in enumerate(texts)]
        return {"id": "cmpl-test", "object": "text_completion", "created": 0, "model": body["model"], "choices": choices,
                "usage": {"prompt_tokens": ids.shape[1], "completion_tokens": 0, "total_tokens": ids.shape[1]}}
