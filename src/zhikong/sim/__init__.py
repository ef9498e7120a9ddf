"""sim domain: a synthetic district with ground truth (see ``docs/sim.md``).

Public API: ``zhikong.sim.service.generate_world(out, SimParams(...))`` writes a world directory;
``zhikong.sim.params.SimParams`` holds every parameter with its default and reasoning.
"""
