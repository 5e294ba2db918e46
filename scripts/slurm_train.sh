#!/usr/bin/env bash
# Multi-node training under SLURM: one `accelerate launch` per node, which starts one process
# per GPU there; the nodes meet at the first node's address (the rendezvous endpoint).
#   sbatch --nodes 2 --gpus-per-node 8 scripts/slurm_train.sh \
#       --config configs/multitask/flan-t5-large.yaml --out runs/mt-large [key=value ...]
# Resume after a failure or preemption: sbatch the same line with --resume appended.
# The same launch with two ranks on localhost is tested in
# tests/training/test_training_distributed.py (CPU, gloo).
#SBATCH --job-name=rhf-train
#SBATCH --ntasks-per-node=1
#SBATCH --exclusive
#SBATCH --output=slurm-%j.out
# SIGTERM 120 s before the time limit: each rank finishes its step, writes a checkpoint and
# prints the resume command (docs/reliability.md); resubmit with --resume.
#SBATCH --signal=TERM@120
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$(dirname "$0")/..}"
PY=${PY:-.venv/bin/python}
OBJECTIVE=${OBJECTIVE:-multitask}
NODES=${SLURM_NNODES:-1}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(nvidia-smi -L | wc -l)}
MASTER_ADDR=$(scontrol show hostnames "${SLURM_JOB_NODELIST}" | head -n 1)
MASTER_PORT=${MASTER_PORT:-$((20000 + SLURM_JOB_ID % 20000))}
echo "nodes=$NODES gpus/node=$GPUS_PER_NODE rendezvous=$MASTER_ADDR:$MASTER_PORT"
# srun starts this block once per node; SLURM_NODEID is the machine rank.
srun --kill-on-bad-exit=1 bash -c "
  exec $PY -m accelerate.commands.launch --multi_gpu \
    --num_machines $NODES --num_processes $((NODES * GPUS_PER_NODE)) \
    --machine_rank \$SLURM_NODEID --main_process_ip $MASTER_ADDR \
    --main_process_port $MASTER_PORT --mixed_precision no \
    -m training.$OBJECTIVE $*"
