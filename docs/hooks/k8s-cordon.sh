#!/bin/sh
# Sentinel action hook for Kubernetes: label the GPU and cordon the node when a GPU is
# taken out of service; uncordon when it is reinstated.
#   sentinel agent --action-hook /etc/sentinel/k8s-cordon.sh
# Called as: k8s-cordon.sh <gpu-uuid> <action> <reason>; see slurm-drain.sh for the
# SENTINEL_* variables. Needs a kubeconfig allowed to patch nodes (NODE_NAME defaults
# to the agent's hostname; set it from the downward API in a DaemonSet).
set -eu
uuid=$1 action=$2 reason=$3
node=${NODE_NAME:-${SENTINEL_HOSTNAME:-$(hostname)}}
label="nvidia.com/gpu-${SENTINEL_GPU_INDEX}-sentinel"
case "$action" in
  quarantine|schedule_deep_test)
    kubectl label node "$node" --overwrite "$label=quarantined"
    kubectl cordon "$node"
    ;;
  condemn)
    kubectl label node "$node" --overwrite "$label=condemned"
    kubectl cordon "$node"
    ;;
  reinstate)
    kubectl label node "$node" "$label-"
    # Uncordon only when no GPU of this node carries a sentinel label any more.
    if ! kubectl get node "$node" -o jsonpath='{.metadata.labels}' | grep -q -- '-sentinel"'; then
      kubectl uncordon "$node"
    fi
    ;;
esac
echo "sentinel: $action GPU $uuid on $node: $reason"
