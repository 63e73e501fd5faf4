"""Pieces of the door page (issue 14) that do not need an HTTP library: login and sessions, frame rate gate."""
