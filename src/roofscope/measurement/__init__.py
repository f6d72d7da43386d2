"""Real runs: ``run`` times a model's ops on a device, ``figures`` holds what was measured and its
sums, ``probe`` measures a machine's ceilings. ``roofscope.measure`` and ``roofscope.probe`` are the
public faces."""
