"""Surrogate models: GNNs over molecules, mixtures and crystals (the surrogates issue)."""
