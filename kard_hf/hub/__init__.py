"""Hub plumbing shared by every artifact: its spec file (:mod:`.artifact`), cards (:mod:`.cards`), push and load
(:mod:`.repo`), and the trainer mixin that writes card and spec on every save and push (:mod:`.trainer`)."""

from .artifact import KINDS, SPEC_NAME, STUDENT_KINDS, dataset_kind, read_spec, spec_file, write_spec

from .cards import (CITATIONS, dataset_card, describe, hub_id, model_card, record_evaluation, saved_dataset_configs,
                    template)
from .repo import HubDatasetArguments, hub_errors, push_folder, require_token, resolve_folder
from .trainer import HubCardMixin, save_card_and_spec

__all__ = ["CITATIONS", "HubCardMixin", "HubDatasetArguments", "KINDS", "SPEC_NAME", "STUDENT_KINDS", "dataset_card",
           "dataset_kind", "describe", "hub_errors", "hub_id", "model_card", "push_folder", "read_spec", "record_evaluation",
           "require_token", "resolve_folder", "saved_dataset_configs", "save_card_and_spec", "spec_file", "template",
           "write_spec"]
