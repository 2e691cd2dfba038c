# Components are imported here so that importing losa_plugin registers them.
from .tal_data_preprocessor import TALDataPreprocessor  # noqa: F401
