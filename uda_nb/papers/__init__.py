"""Per-notebook experiment helpers: the recipes, run specs and tables a paper's notebook builds on, and the data
tour's shift measurements (:mod:`.shift`)."""
