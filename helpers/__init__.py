"""helpers: the machinery behind the notebooks of the PEFT-on-T5-small study."""
