"""The ML, without Luigi: frames and specs in, new objects out. Nothing here reads config or paths."""
