"""Server-rendered HTML pages: one module per page family, all sharing `render`."""
