"""Assets shipped inside the package; load them with importlib.resources."""
