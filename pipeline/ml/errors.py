"""The errors of the pure ML layer: a user's data or model spec cannot be used."""


class MLError(ValueError):
    """Data or a model spec a user supplied is unusable; the message says where and why, in one line."""


class DataError(MLError):
    """Data a user supplied is unusable; the message says where and why, in one line."""


class ModelSpecError(MLError):
    """A model spec names an estimator or parameters that cannot be used. `key`: where in the spec
    (such as "params.regressor.estimator"), for the config error that names it."""

    def __init__(self, message: str, key: str = "estimator"):
        super().__init__(message)
        self.key = key
