"""Converting GPT-2 weights between OpenAI, Hugging Face and this project's checkpoints.

Every reader returns a :class:`~gpt_experiments.convert.pretrained.Pretrained`: a
:class:`~gpt_experiments.model.GPTConfig` plus a state dict in this project's names and
``nn.Linear`` layout. TensorFlow is imported only inside the OpenAI reader.
"""
