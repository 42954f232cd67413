#!/bin/bash
# Multi-node `ccrefine train` with the deepspeed launcher (ssh to every host in the hostfile), from the
# repository root on the first node:
#   deploy/deepspeed/launch.sh deploy/deepspeed/hostfile deploy/slurm/llama-125m.yaml [--set KEY=VALUE ...]
# The launcher adds --local_rank=N to the command; ccrefine ignores it and reads LOCAL_RANK from the environment.
set -euo pipefail
HOSTFILE=${1:?usage: launch.sh HOSTFILE CONFIG [ccrefine train flags]}
CONFIG=${2:?usage: launch.sh HOSTFILE CONFIG [ccrefine train flags]}
shift 2
MASTER_ADDR=${MASTER_ADDR:-$(grep -v '^#' "$HOSTFILE" | awk 'NF {print $1; exit}')}

deepspeed --hostfile "$HOSTFILE" --master_addr "$MASTER_ADDR" --master_port "${MASTER_PORT:-29500}" \
    --module ccrefine.pipelines.cli train --config "$CONFIG" --resume auto "$@"
