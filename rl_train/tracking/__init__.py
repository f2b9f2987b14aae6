"""W&B tracking: the trainer's client (client.py), the logging process that owns the W&B run
(process.py), the session that starts it before torch is imported (session.py), and the
server check (server.py). Light: nothing here imports torch or SB3, and only process.py
imports wandb, once a run starts."""
