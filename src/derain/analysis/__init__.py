"""Statistical study of rainy image sets (docs/METHOD.md section 1): how synthetic and real rain differ.

    >>> from derain.analysis import image_statistics
    >>> stats, orientation_hist = image_statistics(working_rgb)   # dict of floats, 36 bins

`stats` computes per-image statistics, `sets` the working image, `distances` the set-to-set
distances, `study` ties them together, `report` writes the Markdown/CSV/PNG report, `cli` is
`derain analyze`.
"""

from derain.analysis.sets import ImageSet, parse_set, working_image
from derain.analysis.stats import STATISTICS, image_statistics
from derain.analysis.study import Study, compare_sets, measure_set

__all__ = ["STATISTICS", "ImageSet", "Study", "compare_sets", "image_statistics", "measure_set", "parse_set",
           "working_image"]
