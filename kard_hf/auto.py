"""Every kard_hf model type, registered with the transformers Auto classes in one place.

Importing this module registers ``kard_reranker`` (AutoConfig, AutoModel), ``knife_t5`` and ``knife_bart``
(AutoConfig, AutoModel, AutoModelForMultipleChoice), so ``AutoConfig.from_pretrained(folder)`` recognises any folder
kard_hf saved and loaders dispatch on its ``model_type``. It needs torch, so ``import kard_hf`` does not
run it: the packages that define the models (:mod:`kard_hf.knife`, :mod:`kard_hf.reranker`), the
top-level exports and :func:`kard_hf.inference.load_pipeline` import it.
"""

from __future__ import annotations

from transformers import AutoConfig, AutoModel, AutoModelForMultipleChoice

from .knife.configuration import KnifeBartConfig, KnifeT5Config
from .knife.modeling import KnifeBartForMultipleChoice, KnifeT5ForMultipleChoice
from .reranker.configuration import KardRerankerConfig
from .reranker.modeling import KardRerankerModel

# config class -> (model class, the Auto classes that load it)
MODEL_TYPES = {
    KardRerankerConfig: (KardRerankerModel, (AutoModel,)),
    KnifeT5Config: (KnifeT5ForMultipleChoice, (AutoModel, AutoModelForMultipleChoice)),
    KnifeBartConfig: (KnifeBartForMultipleChoice, (AutoModel, AutoModelForMultipleChoice)),
}

for _config, (_model, _autos) in MODEL_TYPES.items():
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    for _auto in _autos:
        _auto.register(_config, _model, exist_ok=True)
