"""The demo county: who can take each case, and the README walk."""
