"""A module that cannot be imported, like a handler module with a bug."""

raise RuntimeError("broken on purpose")
