from .time_grid import grid_to_seconds, seconds_to_grid  # noqa: F401
