"""The T5 backbones the methods are added to."""
