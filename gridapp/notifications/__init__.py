"""Notifications: who is told what, and read receipts."""
