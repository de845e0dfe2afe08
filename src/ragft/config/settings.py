"""Every ragft.toml setting, once: its default, the doc `ragft init` writes above it, and what it accepts.

A section's docstring is the comment under its `[header]` in the template; a field's `doc` is the
comment above its line. Add a setting by adding a field to its section: it is then templated,
validated at load and covered by tests/test_config_schema.py without another edit. The sections live
beside this file, one module per concern (corpus, models, retrieval, evaluation, training, serving);
`Config` here puts them in the order ragft.toml lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ragft.config.corpus import CorpusConfig, StoreConfig
from ragft.config.evaluation import EvaluationConfig, RequirementsConfig
from ragft.config.models import DecodingConfig, ModelsConfig
from ragft.config.retrieval import RetrievalConfig
from ragft.config.serving import ServeConfig
from ragft.config.training import TrainingConfig

TEMPLATE_HEADER = "ragft workspace settings. Every setting is shown with its default; edit freely."


@dataclass(frozen=True)
class Config:
    """Every setting of a workspace, by section, in the order ragft.toml lists them."""

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    requirements: RequirementsConfig = field(default_factory=RequirementsConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
