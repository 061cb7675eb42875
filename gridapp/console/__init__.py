"""The command-center web console (指挥大厅), built from ``console/`` into ``static/``."""
