"""gpt-experiments: configuration-driven GPT-2 pretraining on Hydra, Lightning and TensorBoard."""

import sys
import types

# TensorBoard imports TensorFlow, when it is installed, just to write event files: that
# costs seconds and hundreds of MB. Its own TF-free stub writes the same files; this marker
# module is how TensorBoard's "notf" builds select it. TensorFlow is then imported only
# where it is needed: reading OpenAI's TF checkpoints.
sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
