"""Ways of answering: base (closed-book floor), rag; every one is a `ragft.types.System`."""
