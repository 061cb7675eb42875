"""The 12345 hotline (12345 热线): operators' calls become cases, and their call-backs (回访)."""
