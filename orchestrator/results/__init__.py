"""The result model (one versioned JSON map), metrics, statistics, and the table/footer renderers."""
