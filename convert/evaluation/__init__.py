"""Step 3, judging a model: the test split (evaluate.py, metrics.py), whole door scenes through the runtime's
own loop (door_eval.py) and labelled crops (crop_eval.py). A new evaluation (walk-up clips, say) is one more
module here. May import convert.training, convert.data and edge; never quantization or the command.
"""
