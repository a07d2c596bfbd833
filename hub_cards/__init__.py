"""Jinja templates for the Hub cards of kard_hf's artifacts (installed as kard_hf.hub_cards)."""
