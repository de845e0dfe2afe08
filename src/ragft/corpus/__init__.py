"""Getting documents in: loaders, chunking, the versioned store, ingest and diffs."""
