"""The grid map (网格): areas and map versions, import, the in-process index, locate."""
