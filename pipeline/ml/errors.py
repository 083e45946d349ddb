"""The errors of the pure ML layer: a user's data or model spec cannot be used."""


class MLError(ValueError):
    """Data or a model spec a user supplied is unusable; the message says where and why, in one line."""


class DataError(MLError):
    """Data a user supplied is unusable; the message says where and why, in one line."""


class ModelSpecError(MLError):
    """A model spec names an estimator or parameters that cannot be used."""
