"""worldmodels: RSSM world models, Dreamer, planners and model-free heads on one pipeline."""

__version__ = "0.1.0"
