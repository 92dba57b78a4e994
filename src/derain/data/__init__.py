"""Datasets (image folders, the shared catalogue), training pools and seeded training patches."""

from derain.data.catalog import CATALOG, dataset_path, is_eval_only, open_dataset, open_training_dataset
from derain.data.folders import FolderDataset, PairedFolder, Sample, SideBySide, UnpairedFolder, split_side_by_side
from derain.data.patches import (MixedSampler, PatchSampler, Transform, compose, fixed_patches, jpeg, random_crop,
                                 random_flip, random_jpeg, random_scaled_crop, resize, stack)
from derain.data.scatter import ScatterConfig, degrade, scatter
from derain.data.splits import check_fraction, fraction_subset, holdout_split
from derain.data.views import Concat, View, open_view

__all__ = [
    "CATALOG", "Concat", "FolderDataset", "MixedSampler", "PairedFolder", "PatchSampler", "Sample", "ScatterConfig",
    "SideBySide",
    "Transform", "UnpairedFolder", "View", "check_fraction", "compose", "dataset_path", "degrade", "fixed_patches",
    "fraction_subset", "holdout_split", "is_eval_only", "jpeg", "open_dataset", "open_training_dataset", "open_view",
    "random_crop", "random_flip", "random_jpeg", "random_scaled_crop", "resize", "scatter", "split_side_by_side",
    "stack",
]
