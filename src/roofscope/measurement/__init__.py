"""Real runs: ``run`` times a model's ops on a device, ``probe`` measures a machine's ceilings.
``roofscope.measure`` and ``roofscope.probe`` are their public faces; ``roofscope.measured`` holds
the figures a run produces."""
