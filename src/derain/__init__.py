"""derain: remove rain streaks from photographs (task transfer learning, Ma et al. 2022)."""

__version__ = "0.1.0"
