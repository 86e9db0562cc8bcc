"""The model zoo: published models (the paper's 138, the field's generalists) made into SegGal checkpoints.

:mod:`seggal.zoo.convert` turns a file or folder in its source's own format into a SegGal checkpoint
folder; :mod:`seggal.zoo.formats` holds one small module per source format.
"""
