"""The commands of ``sentinel`` (see ``sentinel.cli``), one module per command group."""
