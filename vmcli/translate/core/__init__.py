"""What both directions share: block types, the direction registry, rule tables, the cache levels,
the on-disk template cache, forked workers and the numba hash table of the fast paths."""
