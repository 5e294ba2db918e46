"""Label Studio campaign for rich feedback: labeling config, push, pull, agreement, webhooks."""
