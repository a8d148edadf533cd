"""torch datasets and seeded loaders: memory-mapped patch arrays and whole 16-bit PNG images."""
