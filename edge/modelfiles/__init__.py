"""Code for model files (the files themselves are the data folder edge/models/): where they are looked for and
which one is used (find.py), downloading and pinning official files (fetch.py) and loading a TFLite model with
whichever runtime is installed (tflite.py). May import edge.config (types only), edge.registry and edge.errors.
"""
