"""Question/answer synthesis from the documents: facts, paraphrases, refusals, RAFT examples."""

from ragft.synth.training_set import (
    TrainingDataError,
    build_training_set,
    synthesize_training_set,
)
from ragft.synth.types import Coverage, Fact, TrainingSet, TrainPair

__all__ = ["Coverage", "Fact", "TrainPair", "TrainingDataError", "TrainingSet", "build_training_set", "synthesize_training_set"]
