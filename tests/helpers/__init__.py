"""What tests share: corpora, lakes, servers, the UI driver; none of it is a test."""
