"""Pure domain rules: no Litestar, SQL or Redis imports here (see ARCHITECTURE.md)."""
