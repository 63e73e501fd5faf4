"""The frame loop's parts and the data they pass: the plain types (types.py), the label policy (labels.py), the
crop rule (crop.py), the mask classifier and its model card (classifier.py, model_card.py), the IoU tracker with
its k-of-n vote (tracker.py), the change gate (gate.py) and the loop's counters (stats.py). The face detectors
are their own folder, edge/detectors/, beside this one; edge/pipeline.py runs the loop. May import edge.config,
edge.modelfiles, edge.registry and edge.errors, never a source, a detector, an output or the web page.
"""
