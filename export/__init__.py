"""groundlite.export — the toolchain that turns checkpoints into self-describing model packages.

Importing this package is light; torch/transformers/nncf load only inside the export functions.
"""
