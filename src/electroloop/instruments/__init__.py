"""PyVISA drivers, one plain class per instrument; `sim/` holds protocol-true simulators."""
