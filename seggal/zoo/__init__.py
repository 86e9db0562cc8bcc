"""The model zoo: the catalogue of published models (:mod:`.catalogue`), their download into the Hugging Face
cache (:mod:`.download`) and the converters from each source's own format into SegGal checkpoint folders
(:mod:`.convert`, :mod:`.formats`). Which state each model is in (ready / downloadable / unavailable) is
:mod:`seggal.gallery`'s policy, which sits above this package: nothing here imports it."""
