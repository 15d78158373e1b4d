"""The things that run: processors, the runner that drives them, the runtimes."""
