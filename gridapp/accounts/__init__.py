"""Accounts: users, roles, sessions and the second factor; the login API and user administration."""
