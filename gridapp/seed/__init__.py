"""Demo data: the 衡山县 demo county (real names and codes, generated polygons)."""
