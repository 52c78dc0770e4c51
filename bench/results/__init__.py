"""Rows -> DuckDB -> DataFrames: the store (schema, migrations, every write), queries and export. All SQL lives here."""
