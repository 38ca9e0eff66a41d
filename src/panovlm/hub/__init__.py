"""Hugging Face hub integration: remote code, checkpoint conversion, model card, upload.

Submodules: ``remote_code`` (the flat ``trust_remote_code`` bundle generated from this package),
``convert`` (Lightning checkpoint / ``model_final`` -> export folder), ``card`` (README.md model card),
``push`` (``huggingface_hub`` upload of a checked folder).
"""
