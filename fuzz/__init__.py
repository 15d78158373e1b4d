"""Coverage-guided fuzz targets (atheris); ``./dev fuzz`` runs them."""
