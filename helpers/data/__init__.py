"""Reviews in, token ids and batches out."""
