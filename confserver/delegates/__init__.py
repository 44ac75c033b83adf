"""Delegates of a meeting (issue 14): people invited by name, their personal links, check-in and quorum,
papers with private notes and per-person read receipts, the delegate page's socket. Speaking and voting
build on these models in confserver/votes/."""
