"""The parameter-efficient methods: from scratch (prompt, adapter, lora) and through libraries (via_*)."""
