"""Electrolyte conductivity: a formulation is dosed gravimetrically into a vial and its
conductivity measured; cost is derived from what was weighed."""
