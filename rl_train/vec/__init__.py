"""The parallel envs PPO learns on: make.py builds them from a TrainConfig; shm.py is our
shared-memory VecEnv and shm_worker.py its worker process; env_factory.py is the picklable
constructor a worker runs; forkserver.py starts the server workers fork from, with
worker_imports.py loaded; failures.py tells what a dead or hung worker did.

Light: env workers import env_factory and shm_worker from here, and must never load
torch, SB3 or wandb (tests/test_import_rules.py); make.py and shm.py import SB3.
"""
