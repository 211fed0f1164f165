"""`territory ingest FILE`: events from CSV, JSON Lines or GeoJSON files, recorded in batches.

`formats` reads a file into rows (each parsed with `EventCreate`, problems kept with their line), `targets`
records a batch (straight in the database, or through the API), `run` drives the batches and keeps the report.
"""
