"""Domain types, errors, the job protocol and settings. Imports neither torch nor Qt."""
