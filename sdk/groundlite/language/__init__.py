"""The language layer: what people actually ask, resolved over any grounder's candidates.

Modules: :mod:`.query` (the deterministic query parser), :mod:`.resolve` (relations, ordinals,
image regions, ambiguity), :mod:`.fields` (label -> value by layout and type), :mod:`.controls`
(UI control boxes from the pixels), :mod:`.encoder` (the optional sentence encoder for matching by
meaning), :mod:`.evidence` (the chain that produced a result, in words).
"""
