"""DataFrames -> Altair charts, and the strategy palette. No Streamlit, no torch."""
