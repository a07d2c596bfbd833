"""A teacher for pipeline tests (``--teacher pipeline_teacher:AnswerTeacher``): it reads the gold letter from
its zero-shot prompt and writes a rationale that reaches it, so the answer filter keeps every one."""

import re

from kard_hf.teacher.base import Completion, Teacher

_LETTER = re.compile(r"Correct answer: \((?P<letter>[A-H])\)\nExplanation:\s*$")


class AnswerTeacher(Teacher):
    kind, model = "fixture", "answer-teacher"

    def complete(self, prompt, n, sampling):
        question = prompt.split("Question: ", 1)[1].split("\n", 1)[0]
        letter = _LETTER.search(prompt)["letter"]
        return Completion([f"{question} The facts point to it. So, the answer is ({letter})."] * n)
