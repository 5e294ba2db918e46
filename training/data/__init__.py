"""The data room: feedback records -> text pairs (``examples``), the recipes' train /
held-out data (``build``), replay pairs (``replay``, ``pretrain_data``), tokens and the
collators (``collate``), and the batches (``batching``)."""
