"""How good a policy is: episodes run on evaluation envs (episodes.py), their statistics
(stats.py), the model and VecNormalize statistics of a checkpoint made ready to evaluate
(policy.py), and MP4 videos of episodes (video.py). Training's periodic and final
evaluation and `rl-train eval` use the same code. Only stats.py is light; the rest imports
SB3 (and video.py imageio)."""
