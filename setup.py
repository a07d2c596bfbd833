"""Packages: kard_hf plus the top-level hub_cards/ folder, shipped as kard_hf.hub_cards (metadata in setup.cfg)."""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["kard_hf", "kard_hf.*"]) + ["kard_hf.hub_cards"],
    package_dir={"kard_hf.hub_cards": "hub_cards"},
)
