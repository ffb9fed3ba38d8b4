"""Small runnable examples used by ``shipyard demo`` (and good starting points for your own)."""
