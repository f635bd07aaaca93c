"""Adapters to other ecosystems: Hugging Face ``transformers`` folders, both ways."""
