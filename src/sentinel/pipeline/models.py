"""Alias: this module name is bound to :mod:`sentinel.forecast.models` (the same module
object, so ``isinstance`` and class identity hold across both paths)."""

import sys

from sentinel.forecast import models as _models

sys.modules[__name__] = _models
