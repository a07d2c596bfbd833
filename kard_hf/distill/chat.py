"""A decoder-only student's chat format: the text its chat template puts around one user and one assistant turn.

An instruct model (Qwen2.5-Instruct, Llama-3.2-Instruct, SmolLM2-Instruct...) was tuned on its chat template,
so its student input is ``prefix + user content + separator`` and its target ``assistant content + end``:
the prompt (instruction, question, options, passages) is the user turn, the rationale and answer the assistant
turn. The three strings are rendered once from the template, with markers in place of the contents, and
recorded in the student's spec (:class:`~kard_hf.distill.spec.StudentSpec`): test time rebuilds the training
input from them even where the template renders differently on another day (Llama 3's system turn holds
today's date) or is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

PROMPT_FORMATS = ("auto", "chat", "plain")
_USER, _ASSISTANT = "KARDUSERCONTENT", "KARDASSISTANTCONTENT"


@dataclass(frozen=True)
class ChatFormat:
    """``prefix`` (everything before the user's content: a default system turn, the user header), ``separator``
    (after the user's content, up to the assistant's), ``end`` (the assistant's end-of-turn text)."""

    prefix: str
    separator: str
    end: str

    @classmethod
    def from_tokenizer(cls, tokenizer) -> "ChatFormat":
        """Render ``tokenizer.chat_template`` around a user and an assistant marker and cut it at them.

        The separator is what the template writes between the turns of a finished conversation (not its
        generation prompt), so that the prompt at test time is the prompt the student was trained on; trailing
        whitespace after the end-of-turn token (Qwen's newline) is not the assistant's and is left out.
        """
        messages = [{"role": "user", "content": _USER}, {"role": "assistant", "content": _ASSISTANT}]
        try:
            text = tokenizer.apply_chat_template(messages, tokenize=False)
        except Exception as error:  # a template that raises (jinja's TemplateError, a missing variable...)
            raise ConfigError(f"the student's chat template cannot render a user and an assistant turn: {error}",
                              field="prompt_format") from None
        if text.count(_USER) != 1 or text.count(_ASSISTANT) != 1 or text.index(_USER) > text.index(_ASSISTANT):
            raise ConfigError("the student's chat template does not write a user's and an assistant's message "
                              "verbatim, in order; train it with --prompt_format plain", field="prompt_format")
        prefix, rest = text.split(_USER)
        separator, end = rest.split(_ASSISTANT)
        if not end.strip():
            raise ConfigError("the student's chat template ends an assistant turn with no end-of-turn text, so the "
                              "student could not learn to stop; train it with --prompt_format plain",
                              field="prompt_format")
        return cls(prefix, separator, end.rstrip())


def resolve_chat_format(tokenizer, prompt_format: str, *, decoder_only: bool) -> ChatFormat | None:
    """The chat format a student trains with: ``auto`` uses the chat template of a decoder-only student's tokenizer
    when it has one, ``chat`` requires it, ``plain`` (and every seq2seq student) keeps kard_hf's plain layout."""
    if prompt_format not in PROMPT_FORMATS:
        raise ConfigError(f"unknown prompt_format {prompt_format!r}; expected one of {', '.join(PROMPT_FORMATS)}",
                          field="prompt_format")
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if prompt_format == "chat" and not (decoder_only and has_template):
        raise ConfigError("prompt_format 'chat' needs a decoder-only student whose tokenizer has a chat template",
                          field="prompt_format")
    if prompt_format == "plain" or not decoder_only or not has_template:
        return None
    return ChatFormat.from_tokenizer(tokenizer)
