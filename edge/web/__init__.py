"""The door page (issue 14): the output that serves it (page.py), its HTTP server (server.py), the picture it
shows (view.py), the frame rate gate (frame_gate.py) and login sessions with their rate limit (auth.py); the
[web] settings and the password hash format are in edge.config. May import edge.outputs, edge.health (the
doctor's machine checks), edge.sources, edge.detectors, edge.vision, edge.modelfiles, edge.config,
edge.registry and edge.errors; never edge.app (which builds it) or anything above.
"""
