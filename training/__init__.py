"""Networks, train and evaluate CLIs per paper protocol, and the demo model builds (`make models`)."""
