"""The loop that runs everything (top layer): the demo's stages and the base model's build."""
