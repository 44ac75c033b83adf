"""HTTP security headers of every response (issue 13, item 2)."""
