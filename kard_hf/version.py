"""The version of kard_hf, in a module of its own so that every floor can read it without importing the package's face."""

__version__ = "0.1.0.dev0"
