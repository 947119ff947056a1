"""Campaign kinds: one package per kind of experiment the engine runs.

A kind says what a design is, how a planner's point maps onto it, how one trial runs on the
bench, how raw data reduce to metrics, which form fields a technician sees and which plots a
scientist gets. `electrolyte` measures the conductivity of dosed formulations; `cycling` builds a
cell from each and cycles it.
"""
