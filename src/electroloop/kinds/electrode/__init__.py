"""Electrode designs scored by a physics twin: microstructure → TauFactor → PyBaMM → 4680 cell."""
