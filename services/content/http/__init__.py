"""The HTTP adapter: Litestar app, routes, problem responses, token auth."""
