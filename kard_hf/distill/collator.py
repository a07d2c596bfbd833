"""Student inputs from processed rows: prompt layout, token budget, tokenization and dynamic padding.

Retrieval happened in ``kard-hf augment``; this module only formats, truncates and tokenizes, in
batches, at collation time. The same object builds prompts at test time
(:meth:`StudentDataCollator.generation_inputs`), so a student always sees the layout it was
trained on.

Methods (METHOD.md §1):

- ``kard``: ``instruction + question + "Knowledge: " + k passages + "Explanation:"`` → ``target``
  (rationale, newline, ``Answer: X``);
- ``rd``: the same without the knowledge block;
- ``ft``: ``instruction + question + "Answer:"`` → the answer letter alone (``"B"``), so the
  generated text is the letter and the prompt plus output reads ``... Answer: B``.

Budget: the source is at most ``max_source_length`` tokens. The passages are cut first (from
their end, so the best passage is kept longest); the question and the suffix always fit. Only
when the instruction and question alone exceed the budget is the question cut, from its end,
with a warning. Targets are cut to ``max_target_length`` tokens including the end-of-sequence
token.

Seq2seq students get ``input_ids``/``attention_mask`` and ``labels``. Decoder-only students get one
sequence ``prompt + target + eos`` whose prompt positions are ``-100`` in ``labels``, padded on the
right for training (positions then match an unpadded sequence); generation pads prompts on the
left (:meth:`generation_inputs`). With ``padding_free`` the rows are concatenated into one row with
per-row ``position_ids`` by transformers' ``DataCollatorWithFlattening`` (as TRL's SFT packs): no pad
token is computed, and the attention keeps the rows apart (see docs/train.md for the implementations).

A decoder-only student with a chat format (:mod:`kard_hf.distill.chat`) reads
``prefix + instruction + question + [knowledge] + separator`` (the user turn; the plain layout's
``suffix``/``answer_suffix`` cues are not used) and is trained on ``target + end`` (the assistant turn
and its end-of-turn token): ``labels`` cover exactly the assistant's tokens.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Sequence

import torch

from ..data import LETTERS, PromptTemplate
from ..errors import ConfigError, DataError
from .chat import ChatFormat
from .losses import IGNORE_INDEX

logger = logging.getLogger(__name__)

METHODS = ("ft", "rd", "kard")
# The processed-dataset columns each method reads (docs/data-format.md).
METHOD_COLUMNS = {"ft": ("question", "answer"), "rd": ("question", "target"), "kard": ("question", "target", "passages")}


@dataclass
class StudentDataCollator:
    """Turn processed rows (dicts with the :data:`METHOD_COLUMNS` of ``method``) into a padded batch.

    ``sample_passages=True`` draws ``num_passages`` of a row's stored passages at random, anew each
    epoch (the trainer sets :attr:`epoch`), deterministically from ``seed``, the epoch, the row's
    ``id`` and ``rationale_index``; otherwise the first ``num_passages`` (best first) are used.
    ``chat`` lays a decoder-only student's input out as its chat template does; ``padding_free`` packs a
    decoder-only batch into one row.
    """

    tokenizer: object
    method: str = "kard"
    decoder_only: bool = False
    template: PromptTemplate = field(default_factory=PromptTemplate)
    num_passages: int = 1
    sample_passages: bool = False
    max_source_length: int = 512
    max_target_length: int = 256
    seed: int = 42
    epoch: int = 0
    chat: ChatFormat | None = None
    padding_free: bool = False

    def __post_init__(self):
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}; expected one of {', '.join(METHODS)}", field="method")
        if self.num_passages < 1:
            raise ConfigError("num_passages must be at least 1", field="num_passages")
        if self.sample_passages and self.method != "kard":
            raise ConfigError("sample_passages only applies to method 'kard'", field="sample_passages")
        if self.tokenizer.pad_token_id is None or self.tokenizer.eos_token_id is None:
            raise ConfigError("the tokenizer needs a pad and an end-of-sequence token", field="tokenizer")
        if (self.chat is not None or self.padding_free) and not self.decoder_only:
            raise ConfigError("chat formats and padding_free apply to decoder-only students only",
                              field="padding_free" if self.padding_free else "prompt_format")
        if self.chat is not None:  # the template's own text holds its special tokens (BOS included)
            self._prefix_ids, self._suffix_ids, self._end_ids = self._tokenize(
                [self.chat.prefix, self.chat.separator, self.chat.end])
        else:
            # Special tokens the tokenizer adds around a text: T5 appends </s>, OPT/Llama prepend <s>, GPT-2 adds none.
            specials = self.tokenizer("", add_special_tokens=True)["input_ids"]
            self._prefix_ids, suffix_specials = ([], specials) if not self.decoder_only else (specials, [])
            suffix = self.template.answer_suffix if self.method == "ft" else self.template.suffix
            self._suffix_ids = self._tokenize([suffix])[0] + suffix_specials
            self._end_ids = [self.tokenizer.eos_token_id]
        self._warned_long_question = False

    # ---- text -> token ids ----------------------------------------------------------------------

    def _tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return self.tokenizer(list(texts), add_special_tokens=False)["input_ids"] if texts else []

    def _passages(self, passages: Sequence[str], row_key: str) -> list[str]:
        if len(passages) < self.num_passages:
            raise DataError(f"num_passages={self.num_passages} but this row stores only {len(passages)} passages",
                            row=f"row id/rationale {row_key}", field="passages")
        if not self.sample_passages:
            return list(passages[: self.num_passages])
        rng = random.Random(f"{self.seed}/{self.epoch}/{row_key}")
        return [passages[i] for i in sorted(rng.sample(range(len(passages)), self.num_passages))]

    def encode_prompts(self, questions: Sequence[str], passages: Sequence[Sequence[str]] | None = None) -> list[list[int]]:
        """Token ids of the budgeted prompts (no padding). ``passages[i]`` are the passages to show for
        question ``i`` (all of them: selection is the caller's job); ``None`` for ``rd`` and ``ft``."""
        heads = self._tokenize([self.template.head(q) for q in questions])
        knowledge = ([[] for _ in questions] if passages is None else self._tokenize(
            [self.template.knowledge_prefix + self.template.passage_separator.join(p) for p in passages]))
        fixed = len(self._prefix_ids) + len(self._suffix_ids)
        prompts = []
        for head, block in zip(heads, knowledge):
            room = self.max_source_length - fixed - len(head)
            if room < 0:
                if not self._warned_long_question:
                    logger.warning("a question is longer than max_source_length=%d tokens: cutting it (and dropping "
                                   "its passages) so that the suffix fits", self.max_source_length)
                    self._warned_long_question = True
                head, room = head[: self.max_source_length - fixed], 0
            prompts.append(self._prefix_ids + head + block[:room] + self._suffix_ids)
        return prompts

    def encode_targets(self, targets: Sequence[str]) -> list[list[int]]:
        """Token ids of the targets, cut to ``max_target_length`` including the final end-of-sequence (or
        end-of-turn) tokens.

        Plain decoder-only students continue the prompt, so their target starts with a space (``" A"``,
        as the word would be written after ``Answer:``); a chat turn starts on its own."""
        lead = " " if self.decoder_only and self.chat is None else ""
        keep = self.max_target_length - len(self._end_ids)
        return [ids[:keep] + self._end_ids for ids in self._tokenize([lead + t for t in targets])]

    @property
    def stop_token_ids(self) -> list[int]:
        """Tokens that end a generation: the end-of-sequence token and the chat format's end-of-turn token."""
        return list(dict.fromkeys([self.tokenizer.eos_token_id] + self._end_ids[-1:]))

    def encode(self, columns: dict) -> tuple[list[list[int]], list[list[int]]]:
        """``(prompt ids, target ids)`` for a batch given as columns (``{"question": [...], ...}``)."""
        questions = columns["question"]
        passages = None
        if self.method == "kard":
            keys = [f"{i}/{r}" for i, r in zip(columns.get("id", range(len(questions))),
                                                 columns.get("rationale_index", [0] * len(questions)))]
            passages = [self._passages(p, key) for p, key in zip(columns["passages"], keys)]
        targets = [LETTERS[a] for a in columns["answer"]] if self.method == "ft" else columns["target"]
        return self.encode_prompts(questions, passages), self.encode_targets(targets)

    def lengths(self, columns: dict) -> list[int]:
        """Tokens per example (prompt + target), for length-grouped sampling."""
        prompts, targets = self.encode(columns)
        return [len(p) + len(t) for p, t in zip(prompts, targets)]

    # ---- padding -----------------------------------------------------------------------------------

    def _batch(self, sequences: list[list[int]], *, left: bool = False, labels: list[list[int]] | None = None
               ) -> dict[str, torch.Tensor]:
        """``input_ids`` and ``attention_mask`` padded by ``tokenizer.pad`` on the side asked for (not the
        tokenizer's own ``padding_side``: training pads on the right, generation of a decoder-only student on the
        left), and ``labels`` padded with -100 on the same side by torch's ``pad_sequence`` (``tokenizer.pad``
        pads model inputs only; ``DataCollatorForSeq2Seq`` would follow the tokenizer's side)."""
        side = "left" if left else "right"
        batch = dict(self.tokenizer.pad({"input_ids": sequences}, padding=True, padding_side=side,
                                        return_attention_mask=True, return_tensors="pt"))
        if labels is not None:
            batch["labels"] = torch.nn.utils.rnn.pad_sequence([torch.tensor(y, dtype=torch.long) for y in labels],
                                                              batch_first=True, padding_value=IGNORE_INDEX,
                                                              padding_side=side)
        return batch

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        columns = {key: [f[key] for f in features] for key in features[0]}
        prompts, targets = self.encode(columns)
        if self.decoder_only:
            labels = [[IGNORE_INDEX] * len(p) + t for p, t in zip(prompts, targets)]
            if self.padding_free:
                from transformers import DataCollatorWithFlattening

                # Every row starts with prompt tokens, so the -100 it puts on each row's first label changes nothing.
                return DataCollatorWithFlattening(return_tensors="pt")(
                    [{"input_ids": p + t, "labels": y} for p, t, y in zip(prompts, targets, labels)])
            return self._batch([p + t for p, t in zip(prompts, targets)], labels=labels)
        return self._batch(prompts, labels=targets)

    def generation_inputs(self, questions: Sequence[str],
                          passages: Sequence[Sequence[str]] | None = None) -> dict[str, torch.Tensor]:
        """Padded prompts for ``model.generate``: left padding for decoder-only students, right for seq2seq."""
        return self.pad_prompts(self.encode_prompts(questions, passages))

    def user_turn(self, prompt: list[int]) -> str:
        """The user's message of a chat prompt from :meth:`encode_prompts` (what a chat endpoint is sent)."""
        return self.tokenizer.decode(prompt[len(self._prefix_ids):len(prompt) - len(self._suffix_ids)])

    def pad_prompts(self, prompts: list[list[int]]) -> dict[str, torch.Tensor]:
        """Pad prompt ids from :meth:`encode_prompts` for ``model.generate`` (left for decoder-only students)."""
        return self._batch(prompts, left=self.decoder_only)
