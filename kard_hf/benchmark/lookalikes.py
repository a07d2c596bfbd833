"""Which countries' province names look like a given province name: the benchmark's wrong options.

Province names carry a strong hint of their country's language ("Nakhon ..." is Thai). With wrong
options drawn at random from the same subregion, a character-trigram model of the training
provinces alone picks the right country for 61-74 % of test questions (seeds 0 and 1), so a student
that never reads would score far above chance. Taking as wrong options the countries whose provinces
look most like the asked one takes that hint away (the same model: 33.5-37.5 %, seeds 0-2).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from .world import Province

SMOOTHING = 0.1


def trigrams(name: str) -> list[str]:
    padded = f"^{name.lower()}$"
    return [padded[i:i + 3] for i in range(len(padded) - 2)]


class Lookalikes:
    """A character-trigram naive Bayes over every province of the world, one class per country."""

    def __init__(self, provinces: tuple[Province, ...]):
        self.counts: dict[str, Counter] = defaultdict(Counter)
        for province in provinces:
            self.counts[province.country.name].update(trigrams(province.name))
        self.totals = {country: sum(grams.values()) for country, grams in self.counts.items()}
        self.vocabulary = len({gram for grams in self.counts.values() for gram in grams})
        self.having: dict[str, list[str]] = defaultdict(list)  # trigram -> countries whose provinces have it
        for country in sorted(self.counts):
            for gram in self.counts[country]:
                self.having[gram].append(country)

    def scores(self, name: str, countries: list[str]) -> dict[str, float]:
        """Log-likelihood of ``name``'s trigrams under each country's provinces."""
        grams = trigrams(name)
        scores = {country: len(grams) * (math.log(SMOOTHING) - math.log(self.totals.get(country, 0)
                                                                        + SMOOTHING * self.vocabulary))
                  for country in countries}
        for gram in grams:  # only the countries whose provinces have the trigram differ from the smoothed floor
            for country in self.having.get(gram, ()):
                if country in scores:
                    scores[country] += math.log(self.counts[country][gram] + SMOOTHING) - math.log(SMOOTHING)
        return scores

    def wrong_options(self, province: Province, countries: list[str], count: int) -> list[str]:
        """The ``count`` countries other than the province's own whose provinces its name looks most like
        (ties by name)."""
        scores = self.scores(province.name, [c for c in countries if c != province.country.name])
        return sorted(scores, key=lambda country: (-scores[country], country))[:count]
