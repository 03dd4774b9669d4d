#!/bin/sh
# Sentinel action hook for Slurm: drain the node when one of its GPUs is taken out of
# service, resume it when the GPU is reinstated.
#   sentinel agent --action-hook /etc/sentinel/slurm-drain.sh
# Called as: slurm-drain.sh <gpu-uuid> <action> <reason>; SENTINEL_* variables carry the
# same facts plus SENTINEL_GPU_INDEX, SENTINEL_HOSTNAME, SENTINEL_DIRECTIVE_ID and
# SENTINEL_STATE_FILE. A non-zero exit is logged by the agent.
set -eu
uuid=$1 action=$2 reason=$3
node=${SENTINEL_HOSTNAME:-$(hostname -s)}
case "$action" in
  quarantine|condemn|schedule_deep_test)
    scontrol update nodename="$node" state=drain \
      reason="sentinel: GPU $SENTINEL_GPU_INDEX ($uuid) $action: $reason"
    ;;
  reinstate)
    # Resume only if no other GPU of this node is still out of service.
    if grep -l -E '"state": "(QUARANTINED|DEEP_TEST|CONDEMNED)"' \
        "$(dirname "$SENTINEL_STATE_FILE")"/*.json >/dev/null 2>&1; then
      exit 0
    fi
    scontrol update nodename="$node" state=resume
    ;;
esac
