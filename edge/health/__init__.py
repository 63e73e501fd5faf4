"""Whether this machine and the running door are well: `maskgate doctor`'s checks (doctor.py), the known-answer
self-test run at every start (self_test.py), CPU temperature and throttling (thermal.py), a repeating failure
reported as one state (fault_log.py) and the systemd READY/WATCHDOG/STATUS notifications (service.py). May import
edge.sources, edge.detectors, edge.vision, edge.modelfiles, edge.config, edge.registry and edge.errors; never
edge.app (edge.checkup runs the doctor's checks with the models built), an output or the web page.
"""
