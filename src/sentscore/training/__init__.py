"""Training: ``train()`` as a recipe (``recipe``), the data made into examples (``examples``), the Trainer
(``trainer``, ``callbacks``, ``runtime``, ``surgery``), what training produced (``results``), and the optional
steps (``steps/``)."""
