"""The batch harness: flags, model check, index, plan, the graph, progress, run files, atomic writes."""
