"""Few-shot chain-of-thought prompts that show the teacher the gold answer (METHOD.md, step 1).

A prompt template is plain text with the placeholders ``{question}`` (the question with its
lettered options, :func:`kard_hf.data.format_question`) and ``{answer}`` (the gold letter), and
optionally ``{answer_text}`` (the gold option's text). Other text in braces is left alone unless it
looks like a placeholder (``{word}``), in which case it must be one of these three, so a typo
such as ``{answr}`` is caught before any request is sent. Each exemplar ends its rationale with
``So, the answer is (X).``, the sentence the answer parser and the verifier read.

The built-in prompts were written for kard_hf (the released KARD code shipped only MedQA's).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..data import LETTERS, MCQExample, format_question
from ..errors import ConfigError

REQUIRED_PLACEHOLDERS = ("question", "answer")
PLACEHOLDERS = REQUIRED_PLACEHOLDERS + ("answer_text",)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

_INSTRUCTION = (
    "Each question below comes with its correct answer. Explain step by step, using relevant facts, why that "
    "answer is correct, and end with \"So, the answer is (X).\" where X is the letter of the correct answer.\n\n"
)
_QUERY = "Question: {question}\nCorrect answer: ({answer})\nExplanation:"

MEDQA = _INSTRUCTION + """\
Question: A 24-year-old woman comes to the physician because of palpitations, heat intolerance and a 5-kg weight loss over 2 months despite a good appetite. Her pulse is 112/min. Examination shows a diffusely enlarged, non-tender thyroid gland and bilateral proptosis. Which of the following is the most likely underlying mechanism of her condition? A. Antibodies that stimulate the TSH receptor B. Destruction of thyroid follicles by T cells C. A TSH-secreting pituitary adenoma D. Release of stored hormone after a viral infection
Correct answer: (A)
Explanation: Hyperthyroid symptoms together with a diffuse painless goiter and proptosis point to Graves disease. In Graves disease, IgG autoantibodies bind and stimulate the TSH receptor, driving thyroid hormone synthesis and gland growth; the same immune process involves orbital fibroblasts, causing the eye findings. T-cell destruction (Hashimoto) causes hypothyroidism, a pituitary adenoma would not explain proptosis, and subacute thyroiditis gives a tender gland. So, the answer is (A).

Question: A 67-year-old man with a long history of smoking has a 3-month history of cough and weight loss. Laboratory studies show a serum sodium of 124 mEq/L with a concentrated urine and normal volume status. Chest imaging shows a central lung mass. Which of the following tumor types is most likely? A. Adenocarcinoma B. Squamous cell carcinoma C. Small cell carcinoma D. Carcinoid tumor
Correct answer: (C)
Explanation: Low serum sodium with inappropriately concentrated urine in a euvolemic patient is the syndrome of inappropriate ADH secretion. Among lung tumors, the central neuroendocrine small cell carcinoma of heavy smokers is the classic source of ectopic ADH. Squamous cell carcinoma is also central but typically secretes PTH-related peptide and causes hypercalcemia, while adenocarcinoma is usually peripheral. So, the answer is (C).

Question: A 5-year-old boy is brought to the physician because of swelling around his eyes for 1 week. Urinalysis shows 4+ protein and no blood. Serum albumin is low and cholesterol is high. A kidney biopsy would most likely show which of the following under electron microscopy? A. Subepithelial immune complex deposits B. Effacement of podocyte foot processes C. Splitting of the glomerular basement membrane D. Mesangial IgA deposits
Correct answer: (B)
Explanation: Periorbital edema, heavy proteinuria without hematuria, hypoalbuminemia and hyperlipidemia in a young child describe nephrotic syndrome, most often minimal change disease at this age. Minimal change disease looks normal under light microscopy, and electron microscopy shows effacement of the podocyte foot processes. Subepithelial deposits suggest membranous nephropathy, a split basement membrane suggests Alport syndrome, and IgA deposits cause hematuria. So, the answer is (B).

""" + _QUERY

STRATEGYQA = _INSTRUCTION + """\
Question: Could a honey bee survive a winter in Antarctica on its own? A. yes B. no
Correct answer: (B)
Explanation: A honey bee survives winter only by clustering with thousands of other bees inside a hive and eating stored honey to make heat. A single bee cannot keep itself warm, and Antarctic winter temperatures fall far below freezing with no flowers to feed on. So, the answer is (B).

Question: Would a person need a passport to travel from Paris to Berlin by train? A. yes B. no
Correct answer: (B)
Explanation: Paris is in France and Berlin is in Germany. Both countries belong to the Schengen Area, which removed routine passport checks at the borders between its members, so a traveller can cross by train without showing a passport at the border. So, the answer is (B).

Question: Is the Great Pyramid of Giza older than the Roman Colosseum? A. yes B. no
Correct answer: (A)
Explanation: The Great Pyramid was built for the pharaoh Khufu around 2560 BC. The Colosseum in Rome was completed around 80 AD. The pyramid is therefore more than two and a half thousand years older. So, the answer is (A).

Question: Could someone read all of Shakespeare's plays in a single day? A. yes B. no
Correct answer: (B)
Explanation: Shakespeare wrote about 38 plays, totalling roughly 850,000 words. A fast reader reads about 400 words per minute, which is 24,000 words an hour or about 576,000 words in 24 hours, so finishing takes about a day and a half of nonstop reading. So, the answer is (B).

""" + _QUERY

OBQA = _INSTRUCTION + """\
Question: Which of these would most likely help a plant grow toward a window? A. gravity B. sunlight C. wind D. darkness
Correct answer: (B)
Explanation: Plants bend toward light, a response called phototropism, because light is what they use to make food by photosynthesis. A window lets sunlight in, so the plant grows toward it. So, the answer is (B).

Question: A metal spoon left in a pot of hot soup becomes hot because A. metal conducts heat well B. soup is a liquid C. metal reflects light D. the spoon is heavy
Correct answer: (A)
Explanation: Heat moves from hotter objects to cooler ones through contact. Metals are good thermal conductors, so heat from the soup travels quickly along the spoon to the handle. So, the answer is (A).

Question: What happens to a puddle of water on a sunny afternoon? A. it freezes B. it turns into sand C. it evaporates D. it grows larger
Correct answer: (C)
Explanation: The sun heats the water, and heated liquid water turns into water vapor that rises into the air. This process is evaporation, so the puddle shrinks and eventually disappears. So, the answer is (C).

Question: Which animal is most likely to be found living in a desert? A. a penguin B. a camel C. a salmon D. a walrus
Correct answer: (B)
Explanation: Deserts are hot and dry. A camel can go a long time without drinking and stores fat in its hump, adaptations that suit desert life, while penguins, salmon and walruses need cold water. So, the answer is (B).

""" + _QUERY

FEW_SHOT_PROMPTS = {"medqa": MEDQA, "strategyqa": STRATEGYQA, "obqa": OBQA}
# Zero-shot: the question and its answer only, for teachers that need no examples (a programmatic teacher).
ZERO_SHOT = _QUERY
BUILTIN_PROMPTS = {**FEW_SHOT_PROMPTS, "zero-shot": ZERO_SHOT}


@dataclass(frozen=True)
class RationalePrompt:
    """A validated prompt template; ``sha256`` identifies its exact text in caches, manifests and cards."""

    name: str
    template: str

    def __post_init__(self):
        validate_template(self.template, source=self.name)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.template.encode("utf-8")).hexdigest()

    def render(self, example: MCQExample) -> str:
        """The prompt for one labeled question."""
        values = {"question": format_question(example.stem, example.options), "answer": LETTERS[example.answer],
                  "answer_text": example.options[example.answer]}
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.template)


def validate_template(template: str, *, source=None) -> None:
    """Raise :class:`ConfigError` when a required placeholder is missing or an unknown one is present."""
    found = set(_PLACEHOLDER.findall(template))
    missing = [name for name in REQUIRED_PLACEHOLDERS if name not in found]
    if missing:
        raise ConfigError(f"the prompt template lacks the placeholder(s) {', '.join('{' + m + '}' for m in missing)}",
                          file=source, field="prompt")
    unknown = sorted(found - set(PLACEHOLDERS))
    if unknown:
        raise ConfigError(f"unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}; "
                          f"expected {', '.join('{' + p + '}' for p in PLACEHOLDERS)}", file=source, field="prompt")


def load_prompt(name_or_path: str) -> RationalePrompt:
    """A built-in prompt (``medqa``, ``strategyqa``, ``obqa``, ``zero-shot``) or a UTF-8 template file."""
    if name_or_path in BUILTIN_PROMPTS:
        return RationalePrompt(name_or_path, BUILTIN_PROMPTS[name_or_path])
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(f"not a built-in prompt ({', '.join(BUILTIN_PROMPTS)}) nor a template file",
                          file=name_or_path, field="prompt")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError("the prompt template is not UTF-8 text", file=path, field="prompt") from None
    validate_template(text, source=path)
    return RationalePrompt(path.name, text)
