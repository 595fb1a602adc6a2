#!/usr/bin/env bash
# Multi-node DDP training with torchrun: run this script on every node (any order; they wait for each other).
#
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=node0.example.org configs/launch/torchrun_multinode.sh [extra fit arguments]
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=node0.example.org configs/launch/torchrun_multinode.sh [extra fit arguments]
#
# torchrun starts GPUS_PER_NODE processes on this node; Lightning recognises torchrun's environment
# (TorchElasticEnvironment) and takes ranks and the rendezvous from it, so num_nodes and devices only have to agree
# with torchrun's --nnodes and --nproc_per_node, which this script passes from the same variables.
# Optional: GPUS_PER_NODE (default: every GPU nvidia-smi lists), MASTER_PORT (29500), CONFIG (the model config,
# configs/sprites_large.yaml), TORCHRUN (torchrun), DRY_RUN=1 (print the command instead of running it).
set -euo pipefail
: "${NNODES:?set NNODES, the number of nodes}"
: "${NODE_RANK:?set NODE_RANK, the index of this node, 0..NNODES-1}"
: "${MASTER_ADDR:?set MASTER_ADDR, the address of node 0}"
MASTER_PORT=${MASTER_PORT:-29500}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(nvidia-smi -L 2>/dev/null | wc -l)}
CONFIG=${CONFIG:-configs/sprites_large.yaml}
if [ "$GPUS_PER_NODE" -lt 1 ]; then echo "no GPUs found; set GPUS_PER_NODE" >&2; exit 2; fi

command=(${TORCHRUN:-torchrun} --nnodes "$NNODES" --node_rank "$NODE_RANK" --nproc_per_node "$GPUS_PER_NODE"
         --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT"
         -m motioncontent fit --config "$CONFIG" --config configs/trainer/multinode.yaml
         --trainer.num_nodes="$NNODES" --trainer.devices="$GPUS_PER_NODE" "$@")
if [ "${DRY_RUN:-0}" = 1 ]; then printf '%s\n' "${command[*]}"; exit 0; fi
exec "${command[@]}"
