"""The model: the trained folder (the only reader and writer of one), heads, objectives, loading base and trained
models, the model card, ensembles and the score sets' contract."""
