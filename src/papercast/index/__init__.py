"""Search indexes derived from the database: keyword (tantivy) and vectors."""
