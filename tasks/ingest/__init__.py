"""Reading: sources, bytes and HTML in, raw documents out."""
