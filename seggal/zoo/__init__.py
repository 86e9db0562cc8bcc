"""The model zoo: the catalogue of published models (:mod:`.catalogue`), their download into the Hugging Face
cache (:mod:`.download`), their state on this machine (:mod:`.state`) and the converters from each source's
own format into SegGal checkpoint folders (``convert``)."""
