"""Cycling: each dosed formulation fills a cell that cycles for days on a leased cycler channel,
its early cycles feeding the planner (spec, loop, cell records, summaries, exports, plots)."""
