"""The model side: loading bases and LoRA, the tokenization contract, the training config,
scoring, reward normalisation and the model card."""
