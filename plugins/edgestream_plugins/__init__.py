"""Built-in model families, found through the ``edgestream.plugins`` entry-point group."""
