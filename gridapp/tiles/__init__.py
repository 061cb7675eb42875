"""Vector tiles of the grid map and of open cases for the console's map."""
