"""Patrols (巡查): grid workers' GPS tracks, their coverage of the assigned grids, retention."""
