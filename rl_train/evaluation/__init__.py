"""How good a policy is: episodes run on evaluation envs (episodes.py), their statistics
(stats.py), the model and VecNormalize statistics of a checkpoint made ready to evaluate
(policy.py), a checkpoint evaluated for `rl-train eval` (checkpoint_eval.py), MP4 videos of
episodes (video.py), and the process that draws training's videos from recorded poses
(renderer.py, render_process.py). Training's periodic and final evaluation and
`rl-train eval` use the same evaluate(). stats.py, video.py, renderer.py and
render_process.py are light (no torch, SB3 or wandb); the rest imports SB3."""
