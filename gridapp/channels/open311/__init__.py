"""Open311 GeoReport v2 (市民上报): citizens' apps and integrators file and follow requests."""
