"""Item models the pages show: each backed by repository queries, never by SQL of its own."""
