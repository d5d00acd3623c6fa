"""From a corpus to training batches: text files are streamed, tokenized once into a
content-keyed cache, cut into sliding windows and served by a resumable sampler through
the LightningDataModule."""
