"""The names config uses for columns (light: pipeline/settings.py checks them when it reads the config)."""

# What a column is, when its values alone cannot say (a dataset's `roles`).
ROLES = ("drop", "id", "categorical", "numeric", "date")
# How a categorical column is encoded, overriding the rule in pipeline/ml/features.py (`encoding`).
ENCODINGS = ("onehot", "target", "ordinal")
