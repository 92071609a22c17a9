"""Per-paper experiment helpers: the recipes, run specs and tables a paper's notebook builds on."""
