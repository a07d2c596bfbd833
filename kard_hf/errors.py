"""Exception types of kard_hf.

Every error a user can cause by a bad input derives from :class:`KardError`; the CLI prints it as
one line and exits with code 2. :class:`InputError` carries where the problem is (file, row,
field) so that the message always names it.
"""

from __future__ import annotations


class KardError(Exception):
    """Base class of all errors kard_hf raises on purpose (bad input, bad configuration)."""


class InputError(KardError):
    """A bad input, located by file, row and field where those are known.

    ``row`` is a human-readable location such as ``"line 7"`` (text files, 1-based) or
    ``"row 3"`` (datasets, 0-based as in ``dataset[3]``).
    """

    def __init__(self, message: str, *, file=None, row: str | None = None, field: str | None = None):
        self.message, self.file, self.row, self.field = message, file, row, field
        where = ", ".join(
            part
            for part in (str(file) if file is not None else None, row, f"field '{field}'" if field else None)
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(InputError):
    """A bad recipe, command-line option or argument combination."""


class DataError(InputError):
    """A bad dataset file or row (missing field, label out of range, bad encoding...)."""


class KnowledgeBaseError(InputError):
    """A bad passage corpus or knowledge-base directory."""


class ModelError(KardError):
    """A model or tokenizer that cannot do what the command needs."""


class TeacherError(KardError):
    """A teacher endpoint or model that cannot produce rationales."""


class HubError(KardError):
    """A push to or a download from the Hub that cannot work (no token, refused token, missing repository)."""
