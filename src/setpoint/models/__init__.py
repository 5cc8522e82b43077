"""Models: flavors (save, load, predict per framework), signatures and the saved-model package."""
