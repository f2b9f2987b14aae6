"""SB3 callbacks of a training session: checkpoints (with RNG and env states), evaluations
and the best checkpoint, progress, throughput, the heavy profile's detailed logging."""
