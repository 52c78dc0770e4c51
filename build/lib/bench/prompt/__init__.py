"""Prompt-based continual learning on a frozen ViT: backbones, prompt methods, the model and its plugin."""
