"""An ensemble of trained models scored as one: a single PyTorch model that runs every member and outputs the
log of their mean probability distribution (``ensemble: N`` with ``ensemble_average: probabilities``).

Because it is one model with one output, everything downstream stays as it is: predict and the server run it,
``sentscore export`` writes it as one ONNX graph, and the folder's objective (``averaged_probabilities``) reads
its outputs with softmax and one calibrated temperature. Its ``config.json`` is guarded like that of sentscore's
own head, so that ``transformers.pipeline`` refuses it loudly instead of loading one member as if it were the
whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from ..errors import SentscoreError
from .objectives import objective_from_record
from .stock_loaders import ENSEMBLE_MODEL_TYPE

#: The smallest probability whose log an ensemble outputs (a level no member gives any mass).
FLOOR = 1e-12


class EnsembleConfig(PreTrainedConfig):
    """Each member's own config (a dict with its ``model_type``) and the objective that reads its outputs."""

    model_type = ENSEMBLE_MODEL_TYPE
    members: list[dict[str, Any]] | None = None
    member_objective: str = "classification"
    member_objective_params: dict[str, Any] | None = None
    num_levels: int = 5


class ProbabilityEnsemble(PreTrainedModel):
    """Members -> each one's distribution over the levels (at temperature 1) -> their mean -> its log."""

    config_class = EnsembleConfig
    base_model_prefix = "members"

    def __init__(self, config: EnsembleConfig, members: Sequence[Any] | None = None):
        super().__init__(config)
        if members is None:
            members = [member_from_config(settings) for settings in config.members or ()]
        if not members:
            raise SentscoreError("an ensemble needs at least one member", hint="Train it again.")
        self.members = nn.ModuleList(members)
        self.objective = objective_from_record(
            config.member_objective, config.num_levels, config.member_objective_params
        )
        self.post_init()

    def _init_weights(self, module: Any) -> None:
        # every weight is a member's and comes from the saved file; nothing here is new
        pass

    @property
    def encoder_config(self) -> Any:
        """The first member's encoder config (the members share one architecture), for graph optimizers."""
        return self.members[0].base_model.config

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        mean = sum(self.objective.torch_probabilities(member(**inputs).logits.float()) for member in self.members)
        return SequenceClassifierOutput(logits=torch.log((mean / len(self.members)).clamp(min=FLOOR)))


def member_from_config(settings: dict[str, Any]) -> Any:
    """An untrained member of the architecture ``settings`` describes (its weights are loaded afterwards)."""
    from .heads import SentscoreConfig, SentscoreModel

    settings = dict(settings)
    model_type = settings.pop("model_type")
    if model_type == SentscoreConfig.model_type:
        return SentscoreModel(SentscoreConfig(**settings))
    return AutoModelForSequenceClassification.from_config(AutoConfig.for_model(model_type, **settings))
