"""Step 1, the data: where the photos come from and under which terms (sources.py), cutting them into face crops
with the runtime's detector and crop rule (prepare.py), the crop folders as a split dataset (dataset.py), the
door-condition augmentation and drawn masks (augment.py, synthetic_masks.py) and the self-test's reference
faces (reference_faces.py). May import edge (the runtime parts it prepares data for); never another step.
"""
