"""flatc-generated builders and readers for ttpack.fbs."""
