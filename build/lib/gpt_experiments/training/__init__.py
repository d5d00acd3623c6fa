"""Training a GPT-2 with Lightning: the LightningModule, optimizer and schedules, the
command line checked and composed before Hydra starts, resume, checkpoint IO, distributed
strategies, and the callbacks in ``callbacks/``."""
