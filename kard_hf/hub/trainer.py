"""``HubCardMixin``: one save/push convention for every kard_hf trainer (student, KNIFE teacher and student, reranker).

Mixed in before the Trainer class, it follows TRL's ``_BaseTrainer``: the narrowest hooks of the
Trainer's own paths, no parallel save or push. On every ``_save`` (final model and checkpoints) and
in ``create_model_card`` (which ``push_to_hub`` calls after saving) it writes the model card
(``README.md``) and the kard_hf spec (``kard_hf.json``, :mod:`.artifact`: what a loader needs, with the
``hub_id`` the model is pushed to, so that a model trained from this folder can name it in its own card). ``init_hf_repo``
also creates the ``hub_revision`` branch, and Hub failures become one-line :class:`~kard_hf.errors.HubError`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..version import __version__
from ..errors import ConfigError
from .artifact import write_spec
from .repo import hub_errors, require_token

logger = logging.getLogger(__name__)


def save_card_and_spec(folder, card, spec: dict, *, hub_id: str | None) -> None:
    """The one card path of every saved model: the spec (``kard_hf.json``; ``spec`` names its ``kind``, and
    ``hub_id`` and the kard_hf version are added) and ``README.md`` (``card``) into ``folder``. The trainers write
    through :class:`HubCardMixin`, the reranker's façade directly."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_spec(folder, {**spec, "hub_id": hub_id, "kard_hf_version": __version__})
    card.save(folder / "README.md")


class HubCardMixin:
    """Writes card and spec on every save and push. Subclasses define :meth:`hub_card` and :meth:`hub_spec`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._refuse_hub_token()  # init_hf_repo checked already when pushing; this covers local runs

    def _refuse_hub_token(self) -> None:
        if self.args.hub_token:
            raise ConfigError("pass the Hub token through HF_TOKEN or 'hf auth login', not hub_token: the Trainer "
                              "would save it in training_args.bin", field="hub_token")

    # -- what subclasses describe -------------------------------------------------------------------
    def hub_card(self, model_name: str):
        """The :class:`~huggingface_hub.ModelCard` of the model being trained (see :func:`kard_hf.hub.model_card`)."""
        raise NotImplementedError

    def hub_spec(self) -> dict:
        """What a loader needs besides the weights, with its ``kind`` (:data:`~kard_hf.hub.KINDS`); saved as
        ``kard_hf.json`` with ``hub_id`` and the version."""
        raise NotImplementedError

    @property
    def hub_id(self) -> str | None:
        """The repository this run pushes to (set by ``init_hf_repo``), else None."""
        return getattr(self, "hub_model_id", None)

    def is_adapter(self) -> bool:
        """Whether the model is saved as an unmerged peft adapter (its card then says ``library_name: peft``)."""
        return hasattr(self.accelerator.unwrap_model(self.model), "peft_config")

    def run_facts(self) -> dict:
        """What the run did, for its card: optimizer steps and epochs actually run (a run that stops at
        ``max_steps`` runs a fraction of ``num_train_epochs``), not what the arguments asked for."""
        return {"steps": self.state.global_step, "epochs": round(self.state.epoch or 0.0, 2)}

    def default_model_name(self) -> str:
        return (self.hub_id or self.args.hub_model_id or Path(self.args.output_dir).name).split("/")[-1]

    def write_hub_files(self, folder, *, model_name: str | None = None) -> None:
        """Write ``README.md`` and the spec into ``folder``."""
        save_card_and_spec(folder, self.hub_card(model_name or self.default_model_name()), self.hub_spec(),
                           hub_id=self.hub_id)

    # -- the end of a run -----------------------------------------------------------------------------
    def train_and_save(self, resume_from_checkpoint=None, *, merge_lora: bool = False) -> dict | None:
        """The one way every kard_hf training run ends: train, evaluate (when there is an eval set), merge the LoRA
        adapters (``merge_lora``; not under DeepSpeed, whose sharded weights peft cannot merge), then ``save_model``,
        which writes card and spec and pushes when ``push_to_hub`` is set. Returns the eval metrics (or None)."""
        result = self.train(resume_from_checkpoint=resume_from_checkpoint)
        self.log_metrics("train", result.metrics)
        self.save_metrics("train", result.metrics)
        self.save_state()
        metrics = None
        if self.eval_dataset is not None:
            metrics = self.evaluate()
            self.save_metrics("eval", metrics)
        if merge_lora:
            if self.is_deepspeed_enabled:
                logger.warning("merge_lora is skipped under DeepSpeed: the adapters are saved; merge them with "
                               "peft's merge_and_unload after loading")
            else:
                self.model = self.model.merge_and_unload()
        self.save_model()
        return metrics

    # -- Trainer hooks ------------------------------------------------------------------------------
    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        super()._save(output_dir, state_dict=state_dict)
        if self.args.should_save:
            folder = Path(output_dir or self.args.output_dir)
            if not self.is_adapter():  # adapter files an in-training push copied here would shadow a merged model
                for name in ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin"):
                    (folder / name).unlink(missing_ok=True)
            self.write_hub_files(folder)

    def create_model_card(self, model_name: str | None = None, **kwargs) -> None:
        """Write the kard_hf card (``push_to_hub`` calls this); the generic Trainer card is not used."""
        if self.is_world_process_zero():
            self.write_hub_files(self.args.output_dir, model_name=model_name)

    def init_hf_repo(self, token: str | None = None, private: bool | None = None) -> None:
        self._refuse_hub_token()
        require_token()
        with hub_errors(self.args.hub_model_id or Path(self.args.output_dir).name, "create"):
            super().init_hf_repo(token=token, private=private)
            if self.args.hub_revision and self.is_world_process_zero():
                from huggingface_hub import HfApi

                HfApi().create_branch(self.hub_model_id, branch=self.args.hub_revision, exist_ok=True)

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        if self.is_world_process_zero():  # the in-training push uploads output_dir: give it the card too
            self.write_hub_files(self.args.output_dir)
        super()._push_from_checkpoint(checkpoint_folder)

    def push_to_hub(self, *args, **kwargs):
        with hub_errors(self.hub_id or self.args.hub_model_id, "push to"):
            return super().push_to_hub(*args, **kwargs)
