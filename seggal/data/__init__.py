"""Datasets as distributed (TissueNet .npz, LIVECell COCO json + TIFF), the five task views, and a
synthetic generator. Submodules import their heavy dependencies lazily."""
