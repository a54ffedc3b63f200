"""One module per API: an ``Api`` (signing + which checks read its answers) and endpoint functions that build
params, follow pages and yield pages of row dicts. Nothing here imports typer or rich, or prints."""
